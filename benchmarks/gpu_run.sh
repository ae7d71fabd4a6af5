#!/usr/bin/env bash
# The GPU record in one call: `python -m benchmarks --gpu` (benchmarks/gpu.py) with what the GPU machine lacks
# installed first, all of it held to LIMIT seconds (default 470: under 8 minutes with the machine's start).
# It writes benchmarks/results/gpu.json (saved every second, so a stopped run keeps its points) and the GPU section
# of benchmarks/RESULTS.md; with $OUT set (the device tool's output folder) both are copied there, with the parts'
# progress lines.
#
#   bash scripts/gpu_wheels.sh download          # here, with PyPI: wheels/ for CPython 3.11 and 3.12
#   bash benchmarks/gpu_run.sh                   # there, offline, wheels/ carried along
#
# Beyond torch (CUDA), transformers, accelerate and pyarrow, the loop imports datasets, soundfile, soxr, codecarbon
# and psutil: installed from wheels/ without touching the machine's torch (nothing installed is upgraded).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python || command -v python3)}
LIMIT=${LIMIT:-470}
started=$SECONDS
since=$(mktemp)
keep() {  # what this call wrote, not the record it found
  if [ -n "${OUT:-}" ] && [ benchmarks/results/gpu.json -nt "$since" ]; then
    cp benchmarks/results/gpu.json benchmarks/RESULTS.md "$OUT"/
  fi
}
trap keep EXIT
if [ -d wheels ]; then
  PYTHON=$PYTHON bash scripts/gpu_wheels.sh install
fi
"$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: this script is for a GPU')"
left=$((LIMIT - (SECONDS - started)))
if [ "$left" -lt 120 ]; then
  echo "[gpu_run] installing took $((SECONDS - started)) s of LIMIT=$LIMIT: too little left to measure" >&2
  exit 1
fi
echo "[gpu_run] $((SECONDS - started)) s to install; $left s left for the benchmark" >&2
PYTHONPATH=$PWD HF_HUB_OFFLINE=1 timeout --kill-after 10 "$left" "$PYTHON" -m benchmarks --gpu "$@" 2>&1 \
  | tee "${OUT:-/tmp}/gpu_run.log"
