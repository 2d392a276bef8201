#!/usr/bin/env bash
# Installs the Python tools the integration tests run into ~/.cache/storefront-venv,
# each at the version its test pins, unless it is there already:
# schemathesis (tests/api/schemathesis.rs) and aiosmtpd, the SMTP server
# behind scripts/smtp_sink.py (tests/api/mail.rs); and axe-core from npm, at
# the version tests/a11y/package-lock.json pins, for the accessibility test
# (tests/api/accessibility.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
version=4.32.5
aiosmtpd_version=1.4.6
venv="$HOME/.cache/storefront-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pip() { "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"; }
if [ "$("$venv/bin/st" --version 2>/dev/null || true)" != "st, version $version" ]; then
  pip "schemathesis==$version"
fi
if [ "$("$venv/bin/python" -c 'import aiosmtpd; print(aiosmtpd.__version__)' 2>/dev/null || true)" != "$aiosmtpd_version" ]; then
  pip "aiosmtpd==$aiosmtpd_version"
fi
axe=tests/a11y/node_modules/axe-core
axe_version=$(python3 -c 'import json; print(json.load(open("tests/a11y/package-lock.json"))["packages"]["node_modules/axe-core"]["version"])')
if [ "$(python3 -c "import json; print(json.load(open('$axe/package.json'))['version'])" 2>/dev/null || true)" != "$axe_version" ]; then
  command -v npm >/dev/null || { echo "npm is needed for axe-core: apt-get install -y npm" >&2; exit 1; }
  npm ci --prefix tests/a11y --no-audit --no-fund --silent
fi
"$venv/bin/st" --version
echo "aiosmtpd $("$venv/bin/python" -c 'import aiosmtpd; print(aiosmtpd.__version__)')"
echo "axe-core $axe_version"
