"""Time to quality: how much downstream quality a unit of pre-training compute buys, the transformers example
(`benchmarks/transformers_example.py`) against run_pretrain.py, side by side, at several budgets: a frontier.

The arms of each budget are ttq_arms.py's; each is pre-trained once per seed in a fresh process, then probed with the
study's default probe (kws, frozen upstream, run_downstream's probing defaults, the seed's own probe). The example
runs as its README runs it on data: whole utterances of 2 to 20 s (longer ones truncated once, up front), random
batches padded to the longest. Every pre-training shares the model config (a layer-norm one: the only kind the example
takes), utterances or crops per batch, the held-out share of files and, but for the arm with the README's settings,
the AdamW settings (run_pretrain's defaults, given to both sides: learning rate, betas, epsilon, weight decay, a linear
schedule with the same warm-up share). What stays each side's own: ours clips the gradient norm at 10, the example
does not.

Counted FLOPs, audio seen: each run's CostMeter (costs.json; the example's --stats_file). Wall-clock and peak
memory: the process from start to saved model, measured here as whole_process.py measures it. Accuracy and its
95% interval, each arm's difference from the example paired on test clips and seeds, and the contrasts of
ttq_frontier.py: hf_seqlen.statistics, as the study computes them.

Runs, probes and the corpus (ttq_corpus.py) are kept under WORKDIR (OUTPUT_DIR/runs/time_to_quality): a finished
run is reused by the next invocation when its command is the same; delete the folder to measure again.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2ForPreTraining

from hf_seqlen.downstream.results import read_examples
from hf_seqlen.pretrain.args import HUB_CONFIGS
from hf_seqlen.statistics import Interval, interval, outcome_table, paired_difference

from .common import REPO, load_config, spread
from .profiles import Profile
from .ttq_arms import (
    EXAMPLE,
    EXAMPLE_MAX_SECONDS,
    EXAMPLE_MIN_SECONDS,
    EXAMPLE_README,
    UNTRAINED,
    Arm,
    arms_of,
    example_settings,
    optimizer_defaults,
    plan,
    seeds_at,
)
from .ttq_corpus import describe_corpus, make_corpus
from .ttq_frontier import gain_share, gap_change, keeps_gain
from .ttq_report import FLOPS, GOAL_FLOPS_SHARE, GOAL_MARGIN, GOAL_RECIPE, PLOT_NAME, headline, plot, section
from .whole_process import LAUNCHER, PEAK_LINE

__all__ = ["PLOT_NAME", "headline", "plot", "run", "section"]  # what the benchmark harness reads from here


# --------------------------------------------------------------------------- one run


def run_process(command: list[str], run_dir: Path, threads: int) -> dict:
    """`command` from start to exit, its output in run_dir/log.txt: wall-clock, and its peak RSS through the small
    launcher whole_process.py uses (a child's ru_maxrss starts at its parent's peak)."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": str(threads),
        "HF_DATASETS_CACHE": str(run_dir / "datasets"),
    }
    log = run_dir / "log.txt"
    started = time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.run(
            [sys.executable, "-c", LAUNCHER, *command], cwd=run_dir, env=env, stdout=out, stderr=subprocess.STDOUT
        ).returncode
    wall = time.perf_counter() - started
    lines = log.read_text().splitlines()
    if code != 0:
        tail = "\n".join(lines[-30:])
        raise RuntimeError(f"{Path(command[1]).name} failed (exit {code}); the end of {log}:\n{tail}")
    peak_kib = next(int(line[len(PEAK_LINE) :]) for line in reversed(lines) if line.startswith(PEAK_LINE))
    shutil.rmtree(run_dir / "datasets", ignore_errors=True)  # the example's decoded corpus: hundreds of MB a run
    return {"wall_seconds": wall, "peak_rss_mb": peak_kib / 1024}


def validation_percentage(folder: Path) -> int:
    """The example's default (1%), raised on a corpus of under 100 files to hold out one file."""
    return max(1, math.ceil(100 / sum(1 for _ in folder.rglob("*.flac"))))


def _options(values: dict) -> list[str]:
    return [text for name, value in values.items() for text in (f"--{name}", str(value))]


def shared_options(profile: Profile, seed: int, corpus: Path, out: Path) -> list[str]:
    """What every pre-training is given alike."""
    return _options(
        {
            "per_device_train_batch_size": profile.ttq_batch_size,
            "seed": seed,
            "validation_split_percentage": validation_percentage(corpus),
            "logging_steps": 10,
            "output_dir": out,
        }
    )


def example_command(arm: Arm, seed: int, corpus: Path, out: Path, profile: Profile) -> list[str]:
    settings = example_settings(arm)
    return [
        sys.executable,
        str(REPO / "benchmarks" / "transformers_example.py"),
        *_options(
            {
                "data_dir": corpus,
                "model_name_or_path": HUB_CONFIGS / profile.ttq_config,
                "max_duration_in_seconds": f"{EXAMPLE_MAX_SECONDS:g}",
                "min_duration_in_seconds": f"{EXAMPLE_MIN_SECONDS:g}",
                "max_train_steps": settings["updates"],
                "gradient_accumulation_steps": settings["accumulation"],
                "num_warmup_steps": settings["warmup_steps"],
                "cache_dir": out.parent / "datasets",
                "stats_file": out / "costs.json",
                **settings["optimizer"],
            }
        ),
        *shared_options(profile, seed, corpus, out),
    ]


def ours_command(arm: Arm, seed: int, corpus: Path, out: Path, profile: Profile, flops: float | None) -> list[str]:
    optimizer = optimizer_defaults()
    budget = {"max_train_flops": f"{flops:.6g}"} if arm.budget == "flops" else {"max_train_steps": arm.updates}
    return [
        sys.executable,
        str(REPO / "run_pretrain.py"),
        *_options(
            {
                "data_dir": corpus,
                "config_name": HUB_CONFIGS / profile.ttq_config,
                "max_duration": f"{arm.max_duration:g}",
                **optimizer,
                **budget,
            }
        ),
        "--overwrite_output_dir",
        *shared_options(profile, seed, corpus, out),
    ]


def save_untrained(folder: Path, config_name: str, seed: int) -> None:
    """The config initialised with `seed`, saved as run_pretrain.py saves a model."""
    torch.manual_seed(seed)
    Wav2Vec2ForPreTraining(load_config(config_name)).save_pretrained(folder)
    Wav2Vec2FeatureExtractor.from_pretrained(HUB_CONFIGS / config_name).save_pretrained(folder)


def pretrain(arm: Arm, seed: int, corpus: Path, run_dir: Path, profile: Profile, flops: float | None = None) -> dict:
    """One pre-training, kept: a finished run with the same command is read back; its costs as the report shows them."""
    upstream = run_dir / "upstream"
    if arm.recipe == UNTRAINED:
        command = ["untrained", profile.ttq_config, str(seed)]
    elif arm.recipe in (EXAMPLE, EXAMPLE_README):
        command = example_command(arm, seed, corpus / "pretrain", upstream, profile)
    else:
        command = ours_command(arm, seed, corpus / "pretrain", upstream, profile, flops)
    finished = run_dir / "run.json"
    if finished.is_file() and json.loads(finished.read_text()).get("command") == command[1:]:
        return json.loads(finished.read_text())["result"]
    shutil.rmtree(run_dir, ignore_errors=True)
    upstream.mkdir(parents=True)
    if arm.recipe == UNTRAINED:
        save_untrained(upstream, profile.ttq_config, seed)
        result = {"updates": 0, "flops": 0.0, "audio_hours": 0.0, "wall_seconds": 0.0, "peak_rss_mb": None}
    else:
        measured = run_process(command, run_dir, profile.ttq_torch_threads)
        if arm.recipe in (EXAMPLE, EXAMPLE_README):  # the example saves no feature extractor; the probe reads one
            Wav2Vec2FeatureExtractor.from_pretrained(HUB_CONFIGS / profile.ttq_config).save_pretrained(upstream)
        costs = json.loads((upstream / "costs.json").read_text())
        result = {
            "updates": costs["optimizer_steps"],
            "flops": costs[FLOPS],
            "audio_hours": costs["audio_hours"],
            **measured,
        }
    # the interpreter's path is left out of the comparison: a moved environment still reuses its runs
    finished.write_text(json.dumps({"command": command[1:], "result": result}, indent=2) + "\n")
    return result


def probe(run_dir: Path, seed: int, corpus: Path, profile: Profile) -> dict:
    """The study's default kws probe on this run's upstream (kept: a finished probe is read back); its test
    outcomes as hf_seqlen.statistics reads them."""
    out = run_dir / "kws"
    if not (out / "results.json").is_file():
        out.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            str(REPO / "run_downstream.py"),
            "--task",
            "kws",
            "--freeze_upstream",
            "--model_name_or_path",
            str(run_dir / "upstream"),
            "--data_dir",
            str(corpus / "kws"),
            "--output_dir",
            str(out),
            "--seed",
            str(seed),
            *profile.ttq_probe_args,
        ]
        measured = run_process(command, out, profile.ttq_torch_threads)
        (out / "probe.json").write_text(json.dumps(measured) + "\n")
        shutil.rmtree(out / "feature_cache", ignore_errors=True)
    return outcome_table(read_examples(out))


# --------------------------------------------------------------------------- the study


def in_parallel(tasks: list[Callable[[], object]], jobs: int) -> list:
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        return list(pool.map(lambda task: task(), tasks))


def _interval(found: Interval) -> dict:
    """As plain JSON numbers (statistics computes in numpy)."""
    return {
        "estimate": float(found.estimate),
        "low": float(found.low),
        "high": float(found.high),
        "seeds": found.seeds,
        "p_value": float(found.p_value),
    }


def _costs(per_seed: list[dict]) -> dict:
    found = {}
    for key in ("updates", "flops", "audio_hours", "wall_seconds", "peak_rss_mb", "probe_seconds"):
        values = [r[key] for r in per_seed if r.get(key) is not None]
        found[key] = spread(values) if values else None
    return found


def summarise(arms: list[Arm], runs: dict, tables: dict, seeds: tuple[int, ...]) -> list[dict]:
    """Per arm: its costs over seeds, accuracy with its interval, its paired difference from the example, and how
    much of the example's gain over untrained it keeps (arms[0] is the example, arms[-1] untrained)."""
    example, untrained = arms[0], arms[-1]

    def tables_of(arm: Arm) -> list[dict]:
        return [tables[arm, s] for s in seeds]

    accuracy = {arm: _interval(interval("accuracy", tables_of(arm))) for arm in arms}
    rows = []
    for arm in arms:
        per_seed = [{"seed": s, **runs[arm, s], "accuracy": float(tables[arm, s]["correct"].mean())} for s in seeds]
        row = {
            "name": arm.name,
            "recipe": arm.recipe,
            "budget": arm.budget,
            "example_updates": example.updates,
            "runs": per_seed,
            "accuracy": accuracy[arm],
            **_costs(per_seed),
            "flops_share_of_example": spread([runs[arm, s]["flops"] / runs[example, s]["flops"] for s in seeds]),
            "difference": None,
            "keeps_gain": None,
            "gain_share": None,
        }
        if arm != example:
            row["difference"] = _interval(paired_difference("accuracy", tables_of(arm), tables_of(example)))
        if arm not in (example, untrained):
            row["keeps_gain"] = _interval(keeps_gain(tables_of(arm), tables_of(example), tables_of(untrained)))
            row["gain_share"] = gain_share(*(accuracy[a]["estimate"] for a in (arm, example, untrained)))
        rows.append(row)
    return rows


def goal(rows: list[dict]) -> dict:
    """Item by item, the goal's verdict for one budget point."""
    by = {(r["recipe"], r["budget"]): r for r in rows}
    same_flops, same_updates = by[GOAL_RECIPE, "flops"], by[GOAL_RECIPE, "updates"]
    share = same_updates["flops_share_of_example"]["median"]
    return {
        "same_flops_better": bool(same_flops["difference"]["low"] > 0),
        "same_updates_flops_share": float(share),
        "same_updates_cheap_enough": bool(share <= GOAL_FLOPS_SHARE),
        "same_updates_non_inferior": bool(same_updates["difference"]["low"] > GOAL_MARGIN),
        "same_updates_keeps_gain": bool(same_updates["keeps_gain"]["low"] > 0),
    }


def frontier(profile: Profile, tables: dict) -> dict | None:
    """How the goal recipe's gap from the example at equal FLOPs moves from the smallest budget to the largest, on
    the seeds both budgets ran (None with one budget)."""
    small, large = min(profile.ttq_updates), max(profile.ttq_updates)
    if small == large:
        return None
    seeds = [s for s in seeds_at(profile, small) if s in seeds_at(profile, large)]

    def pair(updates: int) -> tuple[list[dict], list[dict]]:
        arm, example = Arm(GOAL_RECIPE, "flops", updates), Arm(EXAMPLE, "updates", updates)
        return [tables[arm, s] for s in seeds], [tables[example, s] for s in seeds]

    return {
        "recipe": GOAL_RECIPE,
        "budget": "flops",
        "smallest": small,
        "largest": large,
        "seeds": seeds,
        "gap_change": _interval(gap_change(pair(small), pair(large))),
    }


def train_and_probe(profile: Profile, corpus: Path, runs_dir: Path) -> tuple[dict, dict]:
    """Every (arm, seed) of the plan pre-trained, then probed: their costs and their test outcome tables."""
    work = plan(profile)

    def folder(arm: Arm, seed: int) -> Path:
        return runs_dir / f"seed-{seed}" / arm.slug

    def task(arm: Arm, seed: int) -> Callable[[], dict]:
        def example_flops() -> float | None:  # read when the task runs: the same-FLOPs arms run after the example
            return runs[Arm(EXAMPLE, "updates", arm.updates), seed]["flops"] if arm.budget == "flops" else None

        return lambda: pretrain(arm, seed, corpus, folder(arm, seed), profile, example_flops())

    runs: dict = {}
    for phase in (False, True):
        batch = [(arm, seed) for arm, seed in work if (arm.budget == "flops") == phase]
        runs |= dict(zip(batch, in_parallel([task(arm, seed) for arm, seed in batch], profile.ttq_jobs)))
    tables = dict(
        zip(
            work,
            in_parallel([lambda a=a, s=s: probe(folder(a, s), s, corpus, profile) for a, s in work], profile.ttq_jobs),
        )
    )
    for arm, seed in work:
        probed = folder(arm, seed) / "kws" / "probe.json"  # absent from a probe kept from before it was written
        seconds = json.loads(probed.read_text())["wall_seconds"] if probed.is_file() else None
        runs[arm, seed] = {**runs[arm, seed], "probe_seconds": seconds}
    return runs, tables


def run(profile: Profile, workdir: Path) -> dict:
    root = (workdir / "time_to_quality").resolve()  # every process runs in its own folder
    corpus = make_corpus(profile, root)
    runs, tables = train_and_probe(profile, corpus, root / profile.name)
    budgets = []
    for updates in profile.ttq_updates:
        seeds = seeds_at(profile, updates)
        rows = summarise(arms_of(profile, updates), runs, tables, seeds)
        budgets.append({"example_updates": updates, "seeds": list(seeds), "arms": rows, "goal": goal(rows)})
    return {
        "profile": profile.name,
        "config_name": profile.ttq_config,
        "batch_size": profile.ttq_batch_size,
        "seeds": sorted({s for budget in budgets for s in budget["seeds"]}),
        "headline_updates": profile.ttq_headline_updates,
        "torch_threads": profile.ttq_torch_threads,
        "jobs": profile.ttq_jobs,
        "probe_args": list(profile.ttq_probe_args),
        "optimizer": optimizer_defaults(),
        "corpus": {
            "voices": dict(zip(("pretraining", "kws_train", "kws_validation", "kws_test"), profile.ttq_voices)),
            "cut_to_seconds": profile.ttq_long_seconds,
            **describe_corpus(corpus),
        },
        "test_clips": len(next(iter(tables.values()))["correct"]),
        "budgets": budgets,
        "frontier": frontier(profile, tables),
    }
