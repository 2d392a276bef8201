# Builds the storefront binary; used by docker-compose.yml.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin storefront

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /app storefront
WORKDIR /app
COPY --from=build /src/target/release/storefront /usr/local/bin/storefront
USER storefront
ENV STOREFRONT_ADDR=0.0.0.0:3000
EXPOSE 3000
CMD ["storefront", "serve"]
