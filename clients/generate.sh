#!/usr/bin/env bash
# Regenerates the typed Python client in clients/python from the OpenAPI document, with the
# generator pinned in clients/generator/requirements.txt (in a virtual environment under
# target/, nothing installed outside the repository).
#
#   clients/generate.sh          rewrite clients/python
#   clients/generate.sh --check  fail if clients/python differs from what the document gives
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/client-generator
if [ ! -x "$venv/bin/openapi-python-client" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r clients/generator/requirements.txt
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo run --quiet -- openapi > "$work/openapi.json"
# The generator formats its output with the pinned ruff from the same environment.
RUFF_NO_CACHE=true PATH="$PWD/$venv/bin:$PATH" "$venv/bin/openapi-python-client" generate \
    --path "$work/openapi.json" --config clients/generator/config.yaml \
    --meta setup --output-path "$work/python" >/dev/null

if [ "${1:-}" = "--check" ]; then
    if ! diff -ru clients/python "$work/python"; then
        echo "clients/python is stale: run clients/generate.sh and commit the result" >&2
        exit 1
    fi
else
    rm -rf clients/python
    cp -r "$work/python" clients/python
fi
