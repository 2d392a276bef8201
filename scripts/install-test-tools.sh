#!/usr/bin/env bash
# Installs the Python tools the integration tests run into ~/.cache/storefront-venv,
# each at the version its test pins, unless it is there already:
# schemathesis (tests/api/schemathesis.rs) and aiosmtpd, the SMTP server
# behind scripts/smtp_sink.py (tests/api/mail.rs).
set -euo pipefail
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
"$venv/bin/st" --version
echo "aiosmtpd $("$venv/bin/python" -c 'import aiosmtpd; print(aiosmtpd.__version__)')"
