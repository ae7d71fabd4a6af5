#!/usr/bin/env bash
# Wheels for a GPU machine that has torch (CUDA), transformers, accelerate and pyarrow but no network.
#
#   bash scripts/gpu_wheels.sh download   # here, with PyPI: wheels for CPython 3.11 and 3.12 on Linux x86_64
#   bash scripts/gpu_wheels.sh install    # there, offline: from wheels/ only; nothing installed is upgraded
#
# The folder (WHEELS, default wheels/, ignored by git) travels with the working tree as a `carry` path,
# at most 64 MiB. Large packages the GPU machine already has (torch and its CUDA libraries,
# transformers, accelerate, pyarrow, numpy, ...) are deleted after downloading. Two Python versions fit
# (about 60 MB, mostly pandas); for another one, PYTHON_VERSIONS=3.10 (or 3.13) alone.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=${WHEELS:-wheels}
PYTHON=${PYTHON:-$(command -v python || command -v python3)}
PYTHON_VERSIONS=${PYTHON_VERSIONS:-"3.11 3.12"}
# What `python -m benchmarks --gpu` and pre-training import beyond torch, transformers and accelerate.
# Downstream's jiwer and evaluate and the CPU report's matplotlib would push the folder past what the
# device tool carries (64 MiB); add them with PACKAGES="..." when a run needs them.
PACKAGES=(${PACKAGES:-datasets soundfile soxr codecarbon psutil})
# Large, and present wherever torch, transformers, accelerate and pyarrow are: never shipped. Small
# pure-Python dependencies stay, in case the machine's are older than these packages need.
ALREADY_THERE='^(torch|triton|nvidia_cu.*|nvidia_n[cv].*|transformers|accelerate|pyarrow|numpy|tokenizers|safetensors|hf_xet|regex|sympy|networkx|jinja2|markupsafe|pyyaml|charset_normalizer|setuptools)-'

case "${1:-}" in
  download)
    mkdir -p "$WHEELS"
    for version in $PYTHON_VERSIONS; do
      "$PYTHON" -m pip download --quiet --no-cache-dir --dest "$WHEELS" --only-binary=:all: --implementation cp \
        --python-version "$version" --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux_2_28_x86_64 "${PACKAGES[@]}"
    done
    find "$WHEELS" -name '*.whl' | while read -r wheel; do
      if basename "$wheel" | grep -Eiq "$ALREADY_THERE"; then rm "$wheel"; fi
    done
    # An abi3 wheel for an older Python serves the newer ones too: keep the oldest of each.
    for project in $(ls "$WHEELS" | grep -- '-abi3-' | cut -d- -f1 | sort -u); do
      ls "$WHEELS"/"$project"-*-abi3-*.whl | sort -V | tail -n +2 | xargs -r rm
    done
    echo "$(ls "$WHEELS" | wc -l) wheels, $(du -sh "$WHEELS" | cut -f1) in $WHEELS/"
    ;;
  install)
    "$PYTHON" -m pip install --quiet --no-index --find-links "$WHEELS" "${PACKAGES[@]}"
    "$PYTHON" -c "import torch, datasets, soundfile, soxr, codecarbon; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
    ;;
  *)
    echo "usage: bash scripts/gpu_wheels.sh download|install" >&2
    exit 2
    ;;
esac
