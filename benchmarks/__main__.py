"""python -m benchmarks [--quick | --smoke] [--only NAME ...] [--output_dir DIR]
python -m benchmarks --gpu [--tiny] [--output_dir DIR]

Runs the measurements, writes one JSON per measurement into DIR/results/, the cost-curve plot
DIR/results/scaling.png, and DIR/RESULTS.md naming the machine. With --only, the other sections
of RESULTS.md come from the JSON files already in DIR/results/. DIR defaults to the benchmarks
folder for the full profile, the committed record, and to benchmarks/runs/PROFILE (ignored by
git) for --quick and --smoke, so a trial run never overwrites the record. --gpu measures one GPU
(benchmarks/gpu.py) into DIR/results/gpu.json and the GPU section of DIR/RESULTS.md; --gpu --tiny
runs it on the CPU with a tiny model, into benchmarks/runs/gpu-tiny. time_to_quality runs only when named
(--only time_to_quality: pre-training and probing, long); it keeps its runs under DIR/runs/ for the next invocation.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from .common import write_json
from .profiles import BRIEF, FULL, GPU, GPU_TINY, PROFILES, QUICK, SMOKE

# Each is the module of this package whose run() measures it, imported when a CPU run starts: --gpu needs none of
# them, nor the libraries they import (scipy, matplotlib, evaluate), which a GPU machine may lack.
MEASUREMENTS = ("data_pipeline", "scaling", "overhead", "reference", "whole_process", "time_to_quality")
# Run only when named: hours of pre-training and probing at the full profile.
NAMED_ONLY = ("time_to_quality",)
# Their runs are kept in DIR/runs/ rather than a temporary folder, so an interrupted invocation resumes.
KEEPS_RUNS = ("time_to_quality",)


def module(name: str):
    return importlib.import_module(f"benchmarks.{name}")


def plots() -> dict:
    """Each plotted measurement's plot function and file name."""
    from . import report, scaling, time_to_quality

    return {
        "scaling": (scaling.plot, report.PLOT_NAME),
        "time_to_quality": (time_to_quality.plot, time_to_quality.PLOT_NAME),
    }


# Written by --gpu only, on a GPU machine; the CPU runs show it from its file.
GPU_RESULTS = "gpu"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[1])
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        action="store_const",
        dest="profile",
        const=QUICK.name,
        help="a few minutes on two CPU cores: the tiny model, fewer points and repeats",
    )
    size.add_argument(
        "--smoke",
        action="store_const",
        dest="profile",
        const=SMOKE.name,
        help="checks that the harness runs and writes its files; its numbers mean nothing",
    )
    size.add_argument(
        "--brief",
        action="store_const",
        dest="profile",
        const=BRIEF.name,
        help="with --only time_to_quality: its frontier on one GPU in one run of at most 9 minutes (wav2vec2-tiny)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(MEASUREMENTS),
        default=[name for name in MEASUREMENTS if name not in NAMED_ONLY],
        help="run only these measurements (default: all but " + ", ".join(NAMED_ONLY) + ")",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="time_to_quality: processes at a time (pre-training runs and probes); default 1",
    )
    parser.add_argument(
        "--output_dir",
        type=Path,
        default=None,
        help="where RESULTS.md and results/ go (default: the benchmarks folder for the full profile, "
        "benchmarks/runs/PROFILE for --quick and --smoke)",
    )
    parser.add_argument(
        "--gpu",
        action="store_true",
        help="measure the training loop on one GPU (wav2vec2-base; about 7 minutes on an H100) instead",
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="with --gpu: the same code on the CPU with wav2vec2-tiny, to check that it runs",
    )
    parser.set_defaults(profile=FULL.name)
    return parser.parse_args(argv)


def default_output_dir(profile_name: str) -> Path:
    """The committed record is written only by the full profile and by --gpu on a GPU."""
    here = Path(__file__).resolve().parent
    return here if profile_name in (FULL.name, GPU.name) else here / "runs" / profile_name


def load_previous(results_dir: Path, skip: list[str]) -> tuple[dict, dict, dict]:
    """The results already in results_dir, and the machine and profile each was measured with."""
    found, machines, profiles = {}, {}, {}
    for name in [*MEASUREMENTS, GPU_RESULTS]:
        path = results_dir / f"{name}.json"
        if name not in skip and path.is_file():
            saved = json.loads(path.read_text())
            found[name], machines[name], profiles[name] = saved["results"], saved["machine"], saved["profile"]
    return found, machines, profiles


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.gpu or args.tiny:
        return gpu_main(args)
    profile = PROFILES[args.profile]
    if args.jobs is not None:
        if args.jobs < 1:
            print(f"python -m benchmarks: --jobs must be >= 1 (got {args.jobs}).", file=sys.stderr)
            return 2
        profile = dataclasses.replace(profile, ttq_jobs=args.jobs)
    if profile.name == BRIEF.name and args.only != ["time_to_quality"]:
        print("python -m benchmarks: --brief is for time_to_quality: add --only time_to_quality.", file=sys.stderr)
        return 2
    output_dir = args.output_dir or default_output_dir(profile.name)
    results_dir = output_dir / "results"
    from . import machine, report

    about = machine.describe()
    results, machines, profiles = load_previous(results_dir, skip=args.only)
    with tempfile.TemporaryDirectory(prefix="hf_seqlen_bench_") as workdir:
        for name in args.only:
            print(f"[benchmarks] {name} ({profile.name}) ...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            results[name] = module(name).run(profile, output_dir / "runs" if name in KEEPS_RUNS else Path(workdir))
            machines[name], profiles[name] = about, profile.name
            seconds = time.perf_counter() - started
            write_json(
                results_dir,
                name,
                {
                    "profile": profile.name,
                    "machine": about,
                    "measured_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                    "seconds": seconds,
                    "results": results[name],
                },
            )
            print(f"[benchmarks] {name} done in {seconds:.0f} s", file=sys.stderr, flush=True)
    for name, (plot, file_name) in plots().items():
        if name in results:
            plot(results[name], results_dir / file_name)
    command = "python -m benchmarks" + ("" if profile.name == FULL.name else f" --{profile.name}")
    if args.only != parse_args([]).only:
        command += " --only " + " ".join(args.only)
    path = report.write(output_dir / "RESULTS.md", results, about, profile.name, command, machines, profiles)
    print(f"[benchmarks] wrote {path} and {results_dir}/", file=sys.stderr)
    return 0


def gpu_main(args: argparse.Namespace) -> int:
    if not args.gpu:
        print("python -m benchmarks: --tiny goes with --gpu (python -m benchmarks --gpu --tiny).", file=sys.stderr)
        return 2
    if not args.tiny and not torch.cuda.is_available():
        print(
            "python -m benchmarks --gpu: no CUDA device here. Run it on a GPU machine, or check that it runs "
            "with --gpu --tiny.",
            file=sys.stderr,
        )
        return 2
    profile = GPU_TINY if args.tiny else GPU
    from . import gpu

    path = gpu.run(profile, args.output_dir or default_output_dir(profile.name))
    print(
        f"[benchmarks --gpu] wrote {path} and the GPU section of {path.parent.parent / 'RESULTS.md'}", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
