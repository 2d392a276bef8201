#!/usr/bin/env bash
# The test command: makes sure what the tests talk to is there, then runs
# `cargo test` (with any arguments given, e.g. `bash scripts/test.sh cart::`).
#
# - PostgreSQL and Redis on localhost are started when they are down;
# - Debian's chromium and chromium-driver (the browser tests), varnish and
#   varnish-modules (the edge-cache tests) are installed when missing;
# - the pinned schemathesis and aiosmtpd go into a virtualenv (scripts/install-test-tools.sh).
#
# Plain `cargo test` works too, on a machine that already has all of that.
set -euo pipefail
cd "$(dirname "$0")/.."

# Root installs packages itself; anyone else through sudo.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  echo "installing $*"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  echo "starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi

if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  apt_install chromium chromium-driver
fi
if ! command -v varnishd >/dev/null 2>&1 || [ ! -e /usr/lib/x86_64-linux-gnu/varnish/vmods/libvmod_xkey.so ]; then
  apt_install varnish varnish-modules
fi
# curl with HTTP/2, for the h2c test (tests/api/compression.rs).
if ! curl -V 2>/dev/null | grep -q HTTP2; then
  apt_install curl
fi
bash scripts/install-test-tools.sh

cargo test "$@"
