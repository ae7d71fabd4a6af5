#!/usr/bin/env bash
# Set up a virtual environment in .venv with everything hf_seqlen and its tests need.
# torch is installed first and pinned: an unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -c scripts/constraints.txt -e ".[test]"
# The lowest transformers pyproject.toml admits, beside the venv's (not in it): tests load probes with it too.
if [ ! -d .venv/lowest-transformers/transformers ]; then
    .venv/bin/python -m pip install --quiet --no-deps --target .venv/lowest-transformers \
        "transformers==4.45.0" "tokenizers==0.20.3" "huggingface_hub==0.26.5"
fi
