#!/usr/bin/env bash
# Installs the schemathesis version tests/api/schemathesis.rs pins into ~/.cache/storefront-venv, unless it is there.
set -euo pipefail
version=4.32.5
venv="$HOME/.cache/storefront-venv"
if [ "$("$venv/bin/st" --version 2>/dev/null || true)" != "st, version $version" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi
"$venv/bin/st" --version
