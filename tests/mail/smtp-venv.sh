#!/usr/bin/env bash
# Prepares target/smtp-server: a virtual environment with aiosmtpd, the real SMTP server the
# account-mail tests start on loopback (each test its own, writing to a Maildir). .ci/run calls
# it before the tests; the tests call it too, so `cargo test` works on its own.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/smtp-server
# Tests running at once prepare it one at a time.
mkdir -p target
exec 9>target/smtp-server.lock
flock 9
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import aiosmtpd" 2>/dev/null; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==1.4.6"
fi
