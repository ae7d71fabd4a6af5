#!/usr/bin/env bash
# Time to quality on one GPU: `python -m benchmarks --only time_to_quality --brief`, the frontier sized for one run
# of at most 9 minutes (an estimate until it has run; benchmarks/README.md says how it was made): wav2vec2-tiny, a
# layer-norm encoder the example accepts; the example at 24, 72 and 216 updates against run_pretrain.py at 2 s (same
# updates, same counted FLOPs) and 4 s (same FLOPs); the example also with its README's settings at 72; 2 seeds;
# every upstream probed on kws.
#
#   bash benchmarks/gpu_time_to_quality.sh            # the brief profile, on a GPU
#   bash benchmarks/gpu_time_to_quality.sh --full     # the full profile: wav2vec2-base-layernorm, hours on a GPU
#   bash benchmarks/gpu_time_to_quality.sh --smoke    # this script on a CPU with the smoke profile: that it runs
#
# Further arguments go to python -m benchmarks (--jobs N, --output_dir DIR). It writes results/time_to_quality.json,
# results/time_to_quality.png and RESULTS.md under benchmarks/runs/PROFILE/ (--full: the record, benchmarks/), and
# keeps its runs there, so a second invocation on the same machine resumes where the first stopped.
# Beyond torch (CUDA), transformers and accelerate it imports datasets, soundfile, soxr, codecarbon, psutil,
# evaluate and jiwer (the probe's metrics), scipy (intervals), matplotlib (figure) and espeakng-loader (the corpus is
# synthesised on first use); with wheels/ present (PACKAGES as below given to scripts/gpu_wheels.sh download) they
# are installed from there offline.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python || command -v python3)}
case "${1:-}" in
  --smoke) profile=(--smoke); shift ;;
  --full) profile=(); shift ;;
  *) profile=(--brief) ;;
esac
if [ -d wheels ]; then
  PACKAGES="datasets soundfile soxr codecarbon psutil scipy matplotlib espeakng-loader evaluate jiwer" PYTHON=$PYTHON \
    bash scripts/gpu_wheels.sh install
fi
if [ "${profile[*]}" != "--smoke" ]; then
  "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: this script is for a GPU (--smoke runs it on a CPU)')"
fi
PYTHONPATH=$PWD "$PYTHON" -m benchmarks --only time_to_quality "${profile[@]}" "$@"
