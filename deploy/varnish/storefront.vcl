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
    # The app sends each body in brotli, gzip or as it is, by
    # Accept-Encoding. A browser's list becomes the one coding the app would
    # pick, so all browsers share one object per coding; a list with
    # q-values is kept whole, and gets objects of its own. Varnish's own gzip
    # handling rewrites Accept-Encoding after this (to gzip or nothing), so
    # the choice travels in a header of ours: vcl_hash keeps one object per
    # choice, vcl_backend_fetch asks the app for it. A purge by xkey
    # retires every one of them.
    unset req.http.X-Storefront-Encoding;
    if (req.http.Accept-Encoding && req.http.Accept-Encoding !~ ";") {
        if (req.http.Accept-Encoding ~ "(?i)(^|,)\s*br\s*(,|$)") {
            set req.http.Accept-Encoding = "br";
        } elsif (req.http.Accept-Encoding ~ "(?i)(^|,)\s*(x-)?gzip\s*(,|$)") {
            set req.http.Accept-Encoding = "gzip";
        } else {
            unset req.http.Accept-Encoding;
        }
    }
    if (req.http.Accept-Encoding) {
        set req.http.X-Storefront-Encoding = req.http.Accept-Encoding;
    }
    # A session or credentials make the answer someone's own.
    if (req.http.Authorization || req.http.Cookie ~ "(^|;)\s*storefront_session=") {
        return (pass);
    }
    # No other cookie changes a page: drop them so anonymous visitors share
    # the cache. The built-in VCL then passes anything but GET and HEAD.
    unset req.http.Cookie;
}

sub vcl_hash {
    # One object per coding (see vcl_recv); the built-in VCL adds the URL
    # and host.
    if (req.http.X-Storefront-Encoding) {
        hash_data(req.http.X-Storefront-Encoding);
    }
}

sub vcl_backend_fetch {
    # The app serves our fetches from Redis, never from an instance's own
    # memory, which may not yet know of the write that just purged us.
    set bereq.http.X-Edge-Fetch = "1";
    # The coding vcl_recv chose, not the gzip Varnish put in its place.
    if (bereq.http.X-Storefront-Encoding) {
        set bereq.http.Accept-Encoding = bereq.http.X-Storefront-Encoding;
    } else {
        unset bereq.http.Accept-Encoding;
    }
    unset bereq.http.X-Storefront-Encoding;
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
