"""Before and after the start-up fixes: `python -m benchmarks.startup_fixes COMMIT [ROUNDS]`.

Runs `run_pretrain.py` of COMMIT (the code before) and of this checkout (after), alternating, each
a fresh process stopped at its first update (as `whole_process` does), on LibriSpeech-shaped silent
corpora of 1 and 16 hours; and, in fresh processes, how long `CostMeter.start()` keeps training
waiting. Writes results/startup_fixes_before_after.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

from .common import REPO, alternate, spread, write_json
from .corpora import silent_corpus
from .machine import describe
from .profiles import FULL
from .whole_process import run_once

METER_START = (
    "import time; from hf_seqlen.costs.meter import CostMeter; t = time.perf_counter(); "
    "CostMeter().start(); print(time.perf_counter() - t)"
)


def checkout(commit: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", commit], cwd=REPO, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def meter_start_seconds(code: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1"}
    # In `code`: `python -c` puts its working directory first on the path, ahead of PYTHONPATH.
    out = subprocess.run(
        [sys.executable, "-c", METER_START], cwd=code, env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main(commit: str, rounds: int = 3) -> Path:
    results = {"before_commit": commit, "rounds": rounds, "first_update_seconds": {}, "meter_start_seconds": {}}
    with tempfile.TemporaryDirectory(prefix="hf_seqlen_fixes_") as workdir:
        work = Path(workdir)
        codes = {"before": checkout(commit, work / "before"), "after": REPO}
        for hours in (1.0, 16.0):
            corpus = work / f"silent_{hours:g}h"
            about = silent_corpus(corpus, hours)
            runs = alternate(
                {
                    name: (
                        lambda code=code, corpus=corpus: run_once("ours", corpus, work / "run", FULL, 10, True, code)
                    )
                    for name, code in codes.items()
                },
                repeats=rounds,
                warmup=0,
            )
            results["first_update_seconds"][f"{hours:g}h"] = {
                "corpus": about,
                **{name: spread([r["first_update_seconds"] for r in runs[name]]) for name in codes},
            }
        starts = alternate(
            {name: (lambda code=code: meter_start_seconds(code)) for name, code in codes.items()},
            repeats=rounds,
            warmup=0,
        )
        results["meter_start_seconds"] = {name: spread(values) for name, values in starts.items()}
    results["measured_at"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    results["machine"] = describe()
    return write_json(REPO / "benchmarks" / "results", "startup_fixes_before_after", results)


if __name__ == "__main__":
    print(json.dumps(json.loads(main(sys.argv[1], *map(int, sys.argv[2:])).read_text()), indent=1))
