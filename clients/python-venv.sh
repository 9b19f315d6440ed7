#!/usr/bin/env bash
# Prepares target/python-client: a virtual environment with the generated client (a copy of
# clients/python) installed, for the cargo test that drives it. .ci/run calls it before the
# tests; the test calls it too, so `cargo test` works on its own.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/python-client
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
# The client's dependencies (the versions the generator was pinned with) and what builds it.
if ! "$venv/bin/python" -c "import httpx, attrs, wheel" 2>/dev/null; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check "httpx==0.28.1" "attrs==26.1.0" "wheel==0.48.0"
fi
rm -rf "$venv/src"
cp -r clients/python "$venv/src"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --no-build-isolation "$venv/src"
