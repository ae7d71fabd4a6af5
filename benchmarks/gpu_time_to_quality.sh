#!/usr/bin/env bash
# Time to quality on one GPU: the full profile of `python -m benchmarks --only time_to_quality`
# (wav2vec2-base; the example at 500 and 2000 updates against run_pretrain.py at 2 and 4 s, same updates
# and same counted FLOPs; 3 seeds; every upstream probed on kws). It writes results/time_to_quality.json,
# results/time_to_quality.png and the section of RESULTS.md; runs are kept under benchmarks/runs/, so a
# second invocation on the same machine resumes where the first stopped.
#
#   bash benchmarks/gpu_time_to_quality.sh            # JOBS=2 to run two processes at a time
#
# Never run yet: how long it takes is not known. Its cost is about 3.3 times the example's pre-training
# per seed and budget (the example, both same-FLOPs arms, the cheap same-updates arms), plus 18 probes per
# budget: far more than a 15-minute device loan, so it needs a GPU machine held for hours.
# Beyond torch (CUDA), transformers and accelerate it imports datasets, soundfile, soxr, codecarbon, psutil,
# scipy (intervals), matplotlib (figure) and espeakng-loader (the corpus is synthesised on first use); with
# wheels/ present (scripts/gpu_wheels.sh download, PACKAGES as below) they are installed from there offline.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python || command -v python3)}
if [ -d wheels ]; then
  PACKAGES="datasets soundfile soxr codecarbon psutil scipy matplotlib espeakng-loader" PYTHON=$PYTHON \
    bash scripts/gpu_wheels.sh install
fi
"$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: this script is for a GPU')"
PYTHONPATH=$PWD "$PYTHON" -m benchmarks --only time_to_quality --jobs "${JOBS:-1}" "$@"
