# Varnish in front of storefront: Debian's varnish 7 with varnish-modules
# (the xkey vmod). Anonymous catalog GETs (pages and API) are cached for as
# long as the app's Cache-Control allows and indexed by its Surrogate-Key
# tags; after a write the app sends `PURGE` with the changed tags in an
# `xkey-purge` header. Signed-in visitors, credentials and writes pass;
# no error (status 400 and above) is ever answered from the cache.
#
# The backend below is for a single app on the same host; put the real
# addresses (or a directors round-robin over several apps) in its place.
vcl 4.1;

import xkey;

backend app {
    .host = "127.0.0.1";
    .port = "3000";
}

# Who may purge: the apps. Loopback here; add the apps' network.
acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    # Before the built-in VCL, which would pipe an unknown method.
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (!req.http.xkey-purge) {
            return (synth(400, "An xkey-purge header is required"));
        }
        # A hard purge: the next request fetches, never a stale copy.
        set req.http.x-purged = xkey.purge(req.http.xkey-purge);
        return (synth(200, "Purged " + req.http.x-purged));
    }
    # A session or credentials make the answer someone's own.
    if (req.http.Authorization || req.http.Cookie ~ "(^|;)\s*storefront_session=") {
        return (pass);
    }
    # No other cookie changes a page: drop them so anonymous visitors share
    # the cache. The built-in VCL then passes anything but GET and HEAD.
    unset req.http.Cookie;
}

sub vcl_backend_fetch {
    # The app serves our fetches from Redis, never from an instance's own
    # memory, which may not yet know of the write that just purged us.
    set bereq.http.X-Edge-Fetch = "1";
}

sub vcl_backend_response {
    # An error describes a moment (a product about to be created, a database
    # restarting) and carries no tag a write would purge it by. The app
    # sends `no-store` on every one; whatever a backend says, none is
    # served from here: the next request asks the backend again, and the
    # marker that says so lasts one second.
    if (beresp.status >= 400) {
        set beresp.ttl = 1s;
        set beresp.grace = 0s;
        set beresp.keep = 0s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    # xkey indexes the `xkey` header, not Surrogate-Key.
    if (beresp.http.Surrogate-Key) {
        set beresp.http.xkey = beresp.http.Surrogate-Key;
    }
    # No return: the built-in VCL keeps responses with Set-Cookie or
    # `Cache-Control: private` or `no-store` (everything the app does not
    # mark public) out of the cache.
}

sub vcl_deliver {
    # The app's X-Cache is its Redis status when the object was fetched;
    # this one says what Varnish did.
    if (obj.uncacheable) {
        set resp.http.X-Varnish-Cache = "PASS";
    } else if (obj.hits > 0) {
        set resp.http.X-Varnish-Cache = "HIT";
    } else {
        set resp.http.X-Varnish-Cache = "MISS";
    }
    unset resp.http.xkey;
}

sub vcl_synth {
    if (req.method == "PURGE") {
        if (req.http.x-purged) {
            set resp.http.X-Purged-Count = req.http.x-purged;
        }
        set resp.http.Content-Type = "text/plain";
        set resp.body = resp.reason;
        return (deliver);
    }
}
