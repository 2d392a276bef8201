# The VCL for docker-compose.yml: storefront.vcl, unchanged, in front of two
# app replicas instead of one app on the same host.
#
# storefront.vcl names one backend, `app` (127.0.0.1:3000), and lets only
# loopback purge; neither can be changed from outside it, so this file adds
# what the compose network needs before including it:
# - a round-robin director over app1 and app2, each probed on /healthz, so a
#   stopped replica gets no traffic; `app` stays declared but is never used;
# - purges from app1 and app2, answered here exactly as storefront.vcl
#   answers them (its own check would refuse their addresses);
# - one retry on the other replica when a GET or HEAD found no backend, or
#   asked for a static asset's hashed name its replica does not have.
#
# Host names are resolved when the VCL is loaded: docker-compose.yml starts
# Varnish after both apps are healthy and restarts it when compose recreates
# one of them. To add a replica, add a backend, its `add_backend` line and
# its name in the acl.
vcl 4.1;

# Defined below; listed first so it runs before storefront.vcl's vcl_recv.
sub vcl_recv {
    call compose_recv;
}

# Before storefront.vcl's, which delivers every error as it is.
sub vcl_backend_response {
    # A static asset's hashed name one replica does not have: during a
    # rolling deploy, the other replica runs the build that links it.
    if (beresp.status == 404 && bereq.url ~ "^/static/" && bereq.retries == 0) {
        return (retry);
    }
}

include "./storefront.vcl";

import directors;

probe healthz {
    .url = "/healthz";
    .interval = 2s;
    .timeout = 1s;
    .window = 5;
    .threshold = 3;
}

backend app1 {
    .host = "app1";
    .port = "3000";
    .probe = healthz;
}

backend app2 {
    .host = "app2";
    .port = "3000";
    .probe = healthz;
}

acl apps {
    "app1";
    "app2";
}

sub vcl_init {
    new replicas = directors.round_robin();
    replicas.add_backend(app1);
    replicas.add_backend(app2);
}

sub compose_recv {
    if (req.method == "PURGE" && client.ip ~ apps) {
        if (!req.http.xkey-purge) {
            return (synth(400, "An xkey-purge header is required"));
        }
        set req.http.x-purged = xkey.purge(req.http.xkey-purge);
        return (synth(200, "Purged " + req.http.x-purged));
    }
    set req.backend_hint = replicas.backend();
}

sub vcl_backend_error {
    # No answer at all (a replica stopped before its probe noticed): the
    # director picks the other one. Only for requests without a body.
    if (bereq.retries == 0 && (bereq.method == "GET" || bereq.method == "HEAD")) {
        return (retry);
    }
}
