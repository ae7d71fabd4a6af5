"""How long a time-to-quality profile will take, estimated from one seed of its smallest budget.

    python -m benchmarks.ttq_estimate [--profile quick] [--output_dir benchmarks/runs/ttq_estimate]

Measures every arm of the smallest budget with seed 0 (the README-settings arm too), one process at a time, each by
wall-clock and by CPU seconds (its processes' user and system time, which other work on the machine changes far
less than it changes wall-clock), then extrapolates over the profile's plan: a process costs a fixed part (start-up,
model, save; taken from the same-updates arm, whose updates cost little) plus a part per update (per batch for the
example), and the same-FLOPs arms' updates grow with the budget as the example's do. Probes cost their measured
mean each. The estimate is the CPU seconds over the profile's processes at a time: what a quiet machine with a core
per process would take. It is an estimate: written as one, with the measurement it rests on.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import time
from pathlib import Path

from . import machine
from . import time_to_quality as ttq
from .profiles import PROFILES, Profile
from .ttq_arms import EXAMPLE, EXAMPLE_README, UNTRAINED, Arm, arms_of, plan
from .ttq_corpus import make_corpus


def _cpu_seconds() -> float:
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def _timed(function, *args) -> tuple[object, dict]:
    wall, cpu = time.perf_counter(), _cpu_seconds()
    result = function(*args)
    return result, {"wall_seconds": time.perf_counter() - wall, "cpu_seconds": _cpu_seconds() - cpu}


def measure(profile: Profile, out: Path) -> dict:
    """Seed 0 of the smallest budget, every arm pre-trained then probed, one at a time."""
    smallest = min(profile.ttq_updates)
    profile = dataclasses.replace(profile, ttq_headline_updates=smallest, ttq_jobs=1)
    root = (out / "time_to_quality").resolve()
    corpus, corpus_cost = _timed(make_corpus, profile, root)
    arms = {}
    for arm in arms_of(profile, smallest):
        folder = root / profile.name / "seed-0" / arm.slug
        flops = arms[Arm(EXAMPLE, "updates", smallest).slug]["run"]["flops"] if arm.budget == "flops" else None
        run, pretrain_cost = _timed(ttq.pretrain, arm, 0, corpus, folder, profile, flops)
        _, probe_cost = _timed(ttq.probe, folder, 0, corpus, profile)
        arms[arm.slug] = {"run": run, "pretrain": pretrain_cost, "probe": probe_cost}
    return {"budget": smallest, "corpus": corpus_cost, "arms": arms}


def per_process(measured: dict) -> dict:
    """The measured arms' CPU seconds, and the fixed part of a process: where the 2 s arm's cost meets zero updates,
    from its same-updates and same-FLOPs runs (the example's fixed part is taken to be the same)."""
    small, arms = measured["budget"], measured["arms"]

    def cpu(recipe: str, budget: str) -> tuple[float, int]:
        found = arms[Arm(recipe, budget, small).slug]
        return found["pretrain"]["cpu_seconds"], found["run"]["updates"]

    same_updates, updates = cpu("2s", "updates")
    same_flops, flops_updates = cpu("2s", "flops")
    per_update = (same_flops - same_updates) / (flops_updates - updates)
    fixed = same_updates - updates * per_update
    return {"fixed": fixed, "small": small, "cpu": {slug: arm["pretrain"]["cpu_seconds"] for slug, arm in arms.items()}}


def pretraining_cpu(arm: Arm, model: dict) -> float:
    """The arm at its budget: the fixed part plus the measured arm's variable part, scaled by the budget."""
    if arm.recipe == UNTRAINED:
        return 0.0
    measured = model["cpu"][Arm(arm.recipe, arm.budget, model["small"]).slug]
    return model["fixed"] + (measured - model["fixed"]) * arm.updates / model["small"]


def extrapolate(measured: dict, profile: Profile) -> dict:
    model = per_process(measured)
    probes = [arm["probe"]["cpu_seconds"] for arm in measured["arms"].values()]
    probe_cpu = sum(probes) / len(probes)
    work = plan(profile)
    pretraining = sum(pretraining_cpu(arm, model) for arm, _ in work)
    total = measured["corpus"]["cpu_seconds"] + pretraining + probe_cpu * len(work)
    return {
        "fixed_cpu_seconds": model["fixed"],
        "probe_cpu_seconds": probe_cpu,
        "processes": sum(arm.recipe != UNTRAINED for arm, _ in work) + len(work),  # pre-trainings, then probes
        "pretraining_cpu_seconds": pretraining,
        "total_cpu_seconds": total,
        "jobs": profile.ttq_jobs,
        "estimated_wall_seconds": total / profile.ttq_jobs,
        "readme_arm": any(arm.recipe == EXAMPLE_README for arm, _ in work),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ttq_estimate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="quick", choices=list(PROFILES))
    parser.add_argument("--jobs", type=int, default=2, help="processes at a time the estimate is for")
    parser.add_argument("--output_dir", type=Path, default=Path(__file__).resolve().parent / "runs" / "ttq_estimate")
    args = parser.parse_args(argv)
    profile = dataclasses.replace(PROFILES[args.profile], ttq_jobs=args.jobs)
    measured = measure(profile, args.output_dir)
    found = {
        "profile": profile.name,
        "machine": machine.describe(),
        "measured": measured,
        "estimate": extrapolate(measured, profile),
    }
    path = args.output_dir / "time_to_quality_estimate.json"
    path.write_text(json.dumps(found, indent=2) + "\n")
    print(json.dumps(found["estimate"], indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
