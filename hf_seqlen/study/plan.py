"""A sweep's plan, checked before anything runs: every job's options (a `Job`, job.py) through the parser of its
entry point (offline: no data is read and the Hub is not asked), then, for --dry_run, each job's command in order
and the expected pre-training cost per arm where a cost was measured.

Two measured cost models, tried in this order:
1. finished pre-trainings of the same arm under the sweep's output_dir (their costs.json): the wall-clock and
   device-hours of a seed still to run are estimated as those of the finished seeds;
2. benchmarks/results/scaling.json (`python -m benchmarks`), when it was measured on this machine and holds the
   arm's model config at each of its crop lengths: updates x audio per update / measured audio seconds per second.
Anything else has no estimate, and the plan says so.
"""

from __future__ import annotations

import json
import os
import shlex
import statistics
from pathlib import Path

import torch

from ..corpus.demo_maker import cached_corpus_folder
from ..costs.meter import device_name
from ..downstream.args import parse_args as parse_downstream_args
from ..option_parsing import UsageError, parse_dataclasses, raising_usage_errors
from ..pretrain.args import ARGUMENT_CLASSES, check_options
from .arm import Arm
from .job import Job, launch
from .report import seed_dir

SCALING_BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "scaling.json"


def parse_job(job: Job) -> tuple:
    """The job's options as its entry point parses and checks them, leaving out what needs the data or the Hub."""
    with raising_usage_errors():
        if job.entry == "pretrain":
            arguments = parse_dataclasses(ARGUMENT_CLASSES, job.arguments())
            check_options(*arguments, check_sources=False)
            return arguments
        return parse_downstream_args(job.arguments(), check_sources=False)


def check_jobs(jobs: list, recipe: str | None = None) -> dict[str, tuple]:
    """{job name: parsed options} of every job still to run; a mistake is a UsageError naming the job."""
    parsed = {}
    for planned in jobs:
        if planned.job is None:
            continue
        try:
            parsed[planned.name] = parse_job(planned.job)
        except UsageError as error:
            where = f"recipe {recipe}, job {planned.name}" if recipe else planned.name
            raise UsageError(f"{where}: {error}") from None
    return parsed


# --------------------------------------------------------------------------- expected cost


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:,.3g} h" + (f" ({hours / 24:,.3g} days)" if hours >= 48 else "")


def finished_runs_estimate(root: Path, arm: Arm, seeds: list[int]) -> str | None:
    """From the costs.json of this arm's finished pre-trainings under the sweep's output_dir."""
    costs = []
    for seed in seeds:
        path = seed_dir(root, arm.name, seed) / "pretrain" / "costs.json"
        if path.is_file():
            costs.append(json.loads(path.read_text()))
    if not costs:
        return None
    wall = statistics.mean(c["wall_clock_seconds"] for c in costs)
    device_hours = statistics.mean(c["device_hours"] for c in costs)
    devices = sorted({f"{c['num_devices']} x {c['device_name']}" for c in costs})
    return (
        f"{_hours(wall)} wall-clock, {device_hours:,.3g} device-hours per seed (estimate: the mean of its "
        f"{len(costs)} finished seed(s) here, costs.json, on {'; '.join(devices)})"
    )


def this_machine() -> dict:
    gpus = (
        [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    )
    return {"cpu_model": device_name(torch.device("cpu")), "cpu_cores": os.cpu_count(), "gpus": gpus}


def _describe(machine: dict) -> str:
    return f"{machine['cpu_model']}, {machine['cpu_cores']} cores" + (
        f", {', '.join(machine['gpus'])}" if machine["gpus"] else ""
    )


def benchmark_problem(benchmark: dict, machine: dict) -> str | None:
    """Why the benchmark's cost curve cannot stand for this machine, or None when it can."""
    measured_on = benchmark["machine"]
    if any(measured_on.get(key) != machine[key] for key in ("cpu_model", "cpu_cores", "gpus")):
        return (
            f"it was measured on {_describe(measured_on)}; this machine is {_describe(machine)}. "
            "`python -m benchmarks` here measures one"
        )
    return None


def benchmark_estimate(
    benchmark: dict,
    source: str,
    arm: Arm,
    arguments: tuple,
    budget_updates: int | None,
    max_train_audio_hours: float | None,
) -> str | None:
    """Updates x audio per update / the measured audio seconds per second at each of the arm's crop lengths
    (forward, backward and optimizer step on full-length crops; one process; loading and evaluation left out)."""
    model, _, train = arguments  # the arm's pre-training, as parse_job parsed it
    phases = []
    for seconds, share in arm.phases():
        points = [
            point
            for curve in benchmark["results"]["curves"]
            for point in curve["points"]
            if point["config_name"] == model.config_name and point["seconds"] == seconds
        ]
        if not points:
            return None
        point = max(points, key=lambda p: p["samples"] * p["seconds"])  # the batch closest to a real one
        crops_audio = train.max_batch_seconds or train.per_device_train_batch_size * seconds
        phases.append((share, crops_audio * train.gradient_accumulation_steps, point["audio_seconds_per_second"]))
    audio_per_update = sum(share * audio for share, audio, _ in phases)
    updates = budget_updates if budget_updates else max_train_audio_hours * 3600 / audio_per_update
    seconds = updates * sum(share * audio / rate for share, audio, rate in phases)
    return (
        f"{_hours(seconds)} per seed (estimate: {updates:,.0f} updates of at most {audio_per_update:,.4g} s "
        f"of audio each, at the audio seconds per second measured for {model.config_name} at "
        f"{', '.join(f'{d:g}' for d, _ in arm.phases())} s crops in {source} on this "
        "machine; training steps only, one process)"
    )


def arm_costs(args, arms: list[Arm], jobs: list, parsed: dict, benchmark_path: Path = SCALING_BENCHMARK) -> list[str]:
    """A line on the benchmark when it cannot be used, then one line per arm: its expected pre-training cost
    per seed, or that there is none."""
    source = "benchmarks/results/scaling.json" if benchmark_path == SCALING_BENCHMARK else str(benchmark_path)
    benchmark = json.loads(benchmark_path.read_text()) if benchmark_path.is_file() else None
    problem = benchmark_problem(benchmark, this_machine()) if benchmark else "this installation has none"
    lines = [f"  ({source} cannot serve: {problem})"] if problem else []
    for arm in arms:
        line = finished_runs_estimate(Path(args.output_dir), arm, args.seeds)
        pretraining = [
            parsed[planned.name]
            for planned in jobs
            if planned.arm is arm and planned.task is None and planned.name in parsed
        ]
        if line is None and pretraining and not problem and args.budget in ("steps", "audio_hours"):
            line = benchmark_estimate(
                benchmark,
                source,
                arm,
                pretraining[0],
                args.max_train_steps if args.budget == "steps" else None,
                args.max_train_audio_hours,
            )
        lines.append(
            f"  {arm.name}: "
            + (
                line
                or "no estimate: no finished seed of this arm here and no step "
                "time measured on this machine for its config, crop lengths and budget"
            )
        )
    return lines


def print_plan(args, arms: list[Arm], jobs: list, parsed: dict) -> None:
    to_run = [planned for planned in jobs if planned.job is not None]
    pretraining = sum(planned.task is None for planned in to_run)
    print(
        f"Plan{f' of recipe {args.config}' if args.config else ''}: {len(arms)} arm(s) x {len(args.seeds)} "
        f"seed(s) x ({len(args.tasks)} task(s) + pre-training) in {args.output_dir}: {len(to_run)} job(s) to run "
        f"({pretraining} pre-training, {len(to_run) - pretraining} downstream), {len(jobs) - len(to_run)} finished "
        "earlier. Every job's options were checked offline by its own parser."
    )
    for index, planned in enumerate(to_run, 1):
        print(f"[{index}/{len(to_run)}] {planned.name} (log: {planned.log_file})")
        print(f"  $ {shlex.join(launch(planned.job, args.accelerate_config))}")
    for planned in jobs:
        if planned.job is None:
            print(f"[done] {planned.name}: finished earlier, skipped")
    folders = {getattr(group, "data_dir", None) for arguments in parsed.values() for group in arguments}
    missing = sorted(folder for folder in folders if folder and not Path(folder).is_dir())
    if str(cached_corpus_folder("large")) in missing:
        missing.remove(str(cached_corpus_folder("large")))
        print(
            f"The large demo corpus is made into {cached_corpus_folder('large')} when the sweep runs (a few minutes)."
        )
    if missing:
        print(f"Local data not on this machine, needed where the jobs run: {', '.join(missing)}")
    print("Expected pre-training cost per arm and seed (estimates from measurements only):")
    for line in arm_costs(args, arms, jobs, parsed):
        print(line)
