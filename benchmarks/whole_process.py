"""Whole runs as a user starts them: `run_pretrain.py` against the transformers example
(`benchmarks/transformers_example.py`), each a fresh process from start to saved model, on corpora
generated here that neither side has seen, the arms alternating A B A B.

Per run: wall time; peak memory of the process tree (the kernel's peak RSS of the process and its
waited-for children from `wait4`, and the largest sum of RSS over the tree sampled every 50 ms,
split into before and after the first update); time to the first update (when the run's output
first shows its `step 1:` line: both sides log every update here); disk written (everything left
under the run's own folder, to which its datasets cache, output and temporary files are pointed).

Then time to first update and disk written against corpus size: sparse silent corpora of
increasing hours, each run stopped (SIGKILL, so no checkpoint is written) at its first update.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from .common import REPO, alternate, paired_ratio, spread
from .corpora import noise_corpus, silent_corpus
from .profiles import Profile

ARMS = ("ours", "example")
FIRST_UPDATE = re.compile(r"\bstep 1: ")
SAMPLE_SECONDS = 0.05
PEAK_LINE = "peak-rss-kib: "
LAUNCHER = (  # runs argv[1:], passes its output through, then prints its peak RSS and exits with its status
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[1:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    f"print('{PEAK_LINE}%d' % usage.ru_maxrss, flush=True)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def command(arm: str, corpus: Path, out: Path, profile: Profile, updates: int, code: Path = REPO) -> list[str]:
    """Each side with its own defaults but for the shared model, crop length, batch size and updates.
    The example holds out 1% of the files; on a corpus of under 100 files, enough % for one file."""
    config = str(REPO / "hub_configs" / profile.whole_config)
    files = sum(1 for _ in corpus.iterdir())
    shared = [
        "--max_train_steps",
        str(updates),
        "--per_device_train_batch_size",
        str(profile.whole_batch_size),
        "--logging_steps",
        "1",
        "--output_dir",
        str(out),
    ]
    if arm == "ours":
        return [
            sys.executable,
            str(code / "run_pretrain.py"),
            "--data_dir",
            str(corpus),
            "--config_name",
            config,
            "--max_duration",
            str(profile.whole_max_duration),
            "--seed",
            "0",
            *shared,
        ]
    return [
        sys.executable,
        str(REPO / "benchmarks" / "transformers_example.py"),
        "--data_dir",
        str(corpus),
        "--model_name_or_path",
        config,
        "--max_duration_in_seconds",
        str(profile.whole_max_duration),
        "--min_duration_in_seconds",
        "0.5",
        "--cache_dir",
        str(out.parent / "datasets"),
        "--validation_split_percentage",
        str(max(1, math.ceil(100 / files))),
        *shared,
    ]


def folder_bytes(folder: Path) -> int:
    """Bytes allocated on disk (a sparse file counts what it holds, not its length)."""
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


class TreeMemory(threading.Thread):
    """Samples the summed RSS of a process and all its descendants until it ends."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.first_update_at: float | None = None
        self.peak_before = self.peak_after = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in procs) / 2**20
            except psutil.Error:
                rss = 0.0
            if self.first_update_at is None:
                self.peak_before = max(self.peak_before, rss)
            else:
                self.peak_after = max(self.peak_after, rss)
            self.done.wait(SAMPLE_SECONDS)


def run_once(
    arm: str, corpus: Path, run_dir: Path, profile: Profile, updates: int, stop_at_first_update: bool, code: Path = REPO
) -> dict:
    """One fresh process; its datasets cache, output and temporary files all under `run_dir`. `code`: the
    checkout whose `run_pretrain.py` and `hf_seqlen` ours runs (another commit's, to measure a change)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "tmp").mkdir(parents=True)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_DATASETS_CACHE": str(run_dir / "datasets"),
        "HF_HOME": str(run_dir / "hf_home"),
        "TMPDIR": str(run_dir / "tmp"),
        "PYTHONPATH": str(code),
    }
    if profile.whole_torch_threads:
        env["OMP_NUM_THREADS"] = str(profile.whole_torch_threads)
    started = time.perf_counter()
    # Through a small launcher: the kernel carries a parent's peak RSS into its child's ru_maxrss, so the
    # run must be the child of a process far smaller than itself (this harness can be large).
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, *command(arm, corpus, run_dir / "out", profile, updates, code)],
        cwd=run_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
    )
    memory = TreeMemory(proc.pid)
    memory.start()
    tail: list[str] = []
    first_update = None
    peak_kib = None
    for line in proc.stdout:  # text mode splits tqdm's carriage returns into lines too
        tail = (tail + [line])[-40:]
        if line.startswith(PEAK_LINE):
            peak_kib = int(line[len(PEAK_LINE) :])
        if first_update is None and FIRST_UPDATE.search(line):
            first_update = time.perf_counter() - started
            memory.first_update_at = first_update
            if stop_at_first_update:
                os.killpg(proc.pid, signal.SIGKILL)
                break
    proc.stdout.close()
    proc.wait()
    wall = time.perf_counter() - started
    memory.done.set()
    memory.join()
    if first_update is None or (proc.returncode != 0 and not stop_at_first_update):
        raise RuntimeError(f"{arm} on {corpus} failed (exit {proc.returncode}):\n{''.join(tail)}")
    result = {
        "arm": arm,
        "wall_seconds": wall,
        "first_update_seconds": first_update,
        # The run's own peak, from the launcher's wait4 (Linux: KiB); a run stopped early has none.
        "peak_rss_mb": peak_kib / 1024 if peak_kib is not None else max(memory.peak_before, memory.peak_after),
        "tree_peak_before_first_update_mb": memory.peak_before,
        "tree_peak_after_first_update_mb": memory.peak_after,
        "disk_written_bytes": folder_bytes(run_dir),
    }
    shutil.rmtree(run_dir, ignore_errors=True)
    return result


def compare_on(shape: str, profile: Profile, workdir: Path) -> dict:
    corpus = workdir / f"corpus_{shape}"
    about = noise_corpus(corpus, shape, profile.whole_files)

    def arm(name: str):
        return lambda: run_once(name, corpus, workdir / f"run_{name}", profile, profile.whole_updates, False)

    runs = alternate({name: arm(name) for name in ARMS}, repeats=profile.whole_repeats, warmup=0)

    def ratio(key: str) -> dict:
        return paired_ratio([r[key] for r in runs["ours"]], [r[key] for r in runs["example"]])

    shutil.rmtree(corpus, ignore_errors=True)
    return {
        "corpus": about,
        "runs": runs,
        "wall_ratio": ratio("wall_seconds"),  # ours / example: below 1 is faster
        "speedup": paired_ratio(
            [r["wall_seconds"] for r in runs["example"]], [r["wall_seconds"] for r in runs["ours"]]
        ),
        "peak_rss_ratio": ratio("peak_rss_mb"),
        "first_update_ratio": ratio("first_update_seconds"),
        "summary": {
            name: {
                key: spread([r[key] for r in runs[name]])
                for key in (
                    "wall_seconds",
                    "first_update_seconds",
                    "peak_rss_mb",
                    "tree_peak_before_first_update_mb",
                    "tree_peak_after_first_update_mb",
                    "disk_written_bytes",
                )
            }
            for name in ARMS
        },
    }


def against_corpus_size(profile: Profile, workdir: Path) -> list[dict]:
    points = []
    for hours in profile.whole_corpus_hours:
        corpus = workdir / f"silent_{hours:g}h"
        about = silent_corpus(corpus, hours)

        def arm(name: str, corpus: Path = corpus):
            return lambda: run_once(name, corpus, workdir / f"run_{name}", profile, profile.whole_updates, True)

        runs = alternate({name: arm(name) for name in ARMS}, repeats=profile.whole_size_repeats, warmup=0)
        shutil.rmtree(corpus, ignore_errors=True)
        points.append(
            {
                "corpus": about,
                **{
                    name: {
                        "first_update_seconds": spread([r["first_update_seconds"] for r in runs[name]]),
                        "disk_written_bytes": spread([r["disk_written_bytes"] for r in runs[name]]),
                        "peak_rss_mb": spread([r["peak_rss_mb"] for r in runs[name]]),
                    }
                    for name in ARMS
                },
            }
        )
    return points


def run(profile: Profile, workdir: Path) -> dict:
    return {
        "config_name": profile.whole_config,
        "max_duration": profile.whole_max_duration,
        "batch_size": profile.whole_batch_size,
        "updates": profile.whole_updates,
        "torch_threads": profile.whole_torch_threads,
        "comparisons": [compare_on(shape, profile, workdir) for shape in profile.whole_shapes],
        "corpus_size": against_corpus_size(profile, workdir),
    }
