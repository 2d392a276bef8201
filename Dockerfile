# Images for docker-compose.yml: the storefront binary (target `app`, the
# default) and Varnish in front of it (target `varnish`). Building one target
# skips the stages only the other needs.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin storefront

# Debian's Varnish 7 with varnish-modules (the xkey vmod), the same packages
# the Varnish tests run. docker-compose.yml mounts the VCL and gives the
# command line.
FROM debian:bookworm-slim AS varnish
RUN apt-get update && apt-get install -y --no-install-recommends varnish varnish-modules \
    && rm -rf /var/lib/apt/lists/*
EXPOSE 80

FROM debian:bookworm-slim AS app
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /app storefront \
    && mkdir -p /app/data/media && chown -R storefront /app
WORKDIR /app
COPY --from=build /src/target/release/storefront /usr/local/bin/storefront
USER storefront
ENV STOREFRONT_ADDR=0.0.0.0:3000
EXPOSE 3000
CMD ["storefront", "serve"]
