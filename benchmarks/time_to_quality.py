"""Time to quality: how much downstream quality a unit of pre-training compute buys, the transformers example
(`benchmarks/transformers_example.py`) against run_pretrain.py, side by side.

Arms, each pre-trained once per seed in a fresh process, then probed with the study's default probe (kws, frozen
upstream, run_downstream's probing defaults, the seed's own probe):
- example: the example with its documented settings: whole utterances of 2 to 20 s (longer ones truncated once,
  up front), random batches padded to the longest; N updates;
- 2s and 4s, same updates: `run_pretrain.py --max_duration 2` (4), N updates;
- 2s and 4s, same FLOPs: `run_pretrain.py --max_train_flops F`, F the example's counted FLOPs with that seed;
- untrained: the config as initialised with the seed: what pre-training bought at all.
Every pre-training shares the model config, crops per update, the held-out share of files and the AdamW settings
(run_pretrain's defaults, given to both sides: learning rate, betas, epsilon, weight decay, a linear schedule with
the same warm-up share). What stays each side's own: ours clips the gradient norm at 10, the example does not.

The corpus is made here with the demo corpus's generator (espeak-ng voices): long utterances of their own voices
for pre-training (10 to 16 s, LibriSpeech's shape), and keyword clips of other voices for the probe, with
training, validation and test voices of their own, so the probe never hears a voice pre-training heard.
Counted FLOPs, audio seen: each run's CostMeter (costs.json; the example's --stats_file). Wall-clock and peak
memory: the process from start to saved model, measured here as whole_process.py measures it. Accuracy and its
95% interval, and each arm's difference from the example paired on test clips and seeds: hf_seqlen.statistics,
as the study computes them.

Runs, probes and the corpus are kept under WORKDIR (OUTPUT_DIR/runs/time_to_quality): a finished run is reused
by the next invocation of the same profile; delete the folder to measure again.
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
from dataclasses import dataclass, fields
from pathlib import Path

import matplotlib.pyplot as plt
import soundfile as sf
import torch
from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2ForPreTraining

from hf_seqlen.args import HUB_CONFIGS, PretrainingArguments
from hf_seqlen.demo_corpus_maker import TRAIN_SENTENCES, Preset, build_split, every_accent_and_variant
from hf_seqlen.downstream.results import read_examples
from hf_seqlen.figures import label, scale
from hf_seqlen.statistics import Interval, interval, outcome_table, paired_difference

from .common import REPO, load_config, spread
from .profiles import Profile
from .whole_process import LAUNCHER, PEAK_LINE

EXAMPLE, UNTRAINED = "example", "untrained"
# The example's README runs it on whole utterances of 2 to 20 s.
EXAMPLE_MIN_SECONDS, EXAMPLE_MAX_SECONDS = 2.0, 20.0
# run_pretrain's AdamW and schedule, given to both sides so that only the data recipe differs.
SHARED_OPTIMIZER = ("learning_rate", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon")
FLOPS = "flops_total_estimated_from_counted_steps"
PLOT_NAME = "time_to_quality.png"
# The goal this measures (benchmarks/RESULTS.md): at equal FLOPs the 2 s arm beats the example beyond its interval;
# at equal updates it costs at most this share of the example's FLOPs and its interval lies above this difference.
GOAL_RECIPE, GOAL_FLOPS_SHARE, GOAL_MARGIN = "2s", 0.3, -0.04


def optimizer_defaults() -> dict[str, float]:
    defaults = {f.name: f.default for f in fields(PretrainingArguments)}
    return {**{name: defaults[name] for name in SHARED_OPTIMIZER}, "warmup_ratio": defaults["warmup_ratio"]}


@dataclass(frozen=True)
class Arm:
    recipe: str  # "example", "2s", "4s", "untrained"
    budget: str  # "updates", "flops" or "none"
    updates: int  # the example's updates this arm is matched to (0: untrained)

    @property
    def slug(self) -> str:
        return UNTRAINED if self.recipe == UNTRAINED else f"{self.recipe}-{self.budget}-{self.updates}"

    @property
    def name(self) -> str:
        if self.recipe in (EXAMPLE, UNTRAINED):
            return f"{self.recipe}" + (f", {self.updates} updates" if self.recipe == EXAMPLE else "")
        return f"{self.recipe}, same {'FLOPs' if self.budget == 'flops' else 'updates'}"

    @property
    def max_duration(self) -> float:
        return float(self.recipe.removesuffix("s"))


def arms_of(profile: Profile, updates: int) -> list[Arm]:
    """The arms matched to the example's `updates`, the example first."""
    return [
        Arm(EXAMPLE, "updates", updates),
        *(Arm(f"{d:g}s", budget, updates) for budget in ("updates", "flops") for d in profile.ttq_durations),
        Arm(UNTRAINED, "none", 0),
    ]


# --------------------------------------------------------------------------- the corpus


def make_corpus(profile: Profile, root: Path) -> Path:
    """Pre-training utterances in FOLDER/pretrain, keyword clips in FOLDER/kws/{train,validation,test}; every part
    spoken by voices of its own. Made once per shape, in a temporary sibling renamed when whole."""
    pretraining, *keyword_voices = profile.ttq_voices
    folder = root / (
        f"corpus-{pretraining}x{profile.ttq_long_per_voice}-"
        + "-".join(map(str, keyword_voices))
        + f"x{profile.ttq_keyword_renditions}"
    )
    if folder.is_dir():
        return folder
    voices = every_accent_and_variant(
        {"train": pretraining + keyword_voices[0], "validation": keyword_voices[1], "test": keyword_voices[2]}
    )
    long_only = Preset({}, short_per_voice=0, long_per_voice=profile.ttq_long_per_voice, keyword_renditions=0)
    renditions = profile.ttq_keyword_renditions
    keywords = Preset(
        {},
        short_per_voice=0,
        long_per_voice=0,
        keyword_renditions=renditions,
        unknown_per_voice=renditions,
        silence_per_voice=renditions,
    )
    parts = {
        "pretrain": (voices["train"][:pretraining], long_only, TRAIN_SENTENCES),
        "kws/train": (voices["train"][pretraining:], keywords, []),
        "kws/validation": (voices["validation"], keywords, []),
        "kws/test": (voices["test"], keywords, []),
    }
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for part, (speakers, preset, pool) in parts.items():
        build_split(partial / part, speakers, preset, pool, log=lambda _: None, workers=os.cpu_count() or 1)
    partial.rename(folder)
    return folder


def describe_corpus(folder: Path) -> dict:
    lengths = [sf.info(p).duration for p in sorted((folder / "pretrain").rglob("*.flac"))]
    clips = {
        split: sum(1 for _ in (folder / "kws" / split).rglob("*.flac")) for split in ("train", "validation", "test")
    }
    return {
        "pretraining_files": len(lengths),
        "pretraining_hours": sum(lengths) / 3600,
        "pretraining_seconds": {k: v for k, v in spread(lengths).items() if k != "values"},
        "kws_clips": clips,
    }


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


def pretrain_command(arm: Arm, seed: int, corpus: Path, out: Path, profile: Profile, flops: float | None) -> list[str]:
    config = str(HUB_CONFIGS / profile.ttq_config)
    optimizer = optimizer_defaults()
    warmup = optimizer.pop("warmup_ratio")
    adamw = [text for name, value in optimizer.items() for text in (f"--{name}", str(value))]
    shared = [
        "--per_device_train_batch_size",
        str(profile.ttq_batch_size),
        "--seed",
        str(seed),
        "--validation_split_percentage",
        str(validation_percentage(corpus)),
        "--logging_steps",
        "10",
        "--output_dir",
        str(out),
        *adamw,
    ]
    if arm.recipe == EXAMPLE:
        return [
            sys.executable,
            str(REPO / "benchmarks" / "transformers_example.py"),
            "--data_dir",
            str(corpus),
            "--model_name_or_path",
            config,
            "--max_duration_in_seconds",
            f"{EXAMPLE_MAX_SECONDS:g}",
            "--min_duration_in_seconds",
            f"{EXAMPLE_MIN_SECONDS:g}",
            "--max_train_steps",
            str(arm.updates),
            "--num_warmup_steps",
            str(int(warmup * arm.updates)),
            "--cache_dir",
            str(out.parent / "datasets"),
            "--stats_file",
            str(out / "costs.json"),
            *shared,
        ]
    budget = ["--max_train_flops", f"{flops:.6g}"] if arm.budget == "flops" else ["--max_train_steps", str(arm.updates)]
    return [
        sys.executable,
        str(REPO / "run_pretrain.py"),
        "--data_dir",
        str(corpus),
        "--config_name",
        config,
        "--max_duration",
        f"{arm.max_duration:g}",
        "--warmup_ratio",
        str(warmup),
        "--overwrite_output_dir",
        *budget,
        *shared,
    ]


def save_untrained(folder: Path, config_name: str, seed: int) -> None:
    """The config initialised with `seed`, saved as run_pretrain.py saves a model."""
    torch.manual_seed(seed)
    Wav2Vec2ForPreTraining(load_config(config_name)).save_pretrained(folder)
    Wav2Vec2FeatureExtractor.from_pretrained(HUB_CONFIGS / config_name).save_pretrained(folder)


def pretrain(arm: Arm, seed: int, corpus: Path, run_dir: Path, profile: Profile, flops: float | None = None) -> dict:
    """One pre-training (kept: a finished run is read back); its costs as the report shows them."""
    finished = run_dir / "run.json"
    if finished.is_file():
        return json.loads(finished.read_text())
    shutil.rmtree(run_dir, ignore_errors=True)
    upstream = run_dir / "upstream"
    upstream.mkdir(parents=True)
    if arm.recipe == UNTRAINED:
        save_untrained(upstream, profile.ttq_config, seed)
        result = {"updates": 0, "flops": 0.0, "audio_hours": 0.0, "wall_seconds": 0.0, "peak_rss_mb": None}
    else:
        measured = run_process(
            pretrain_command(arm, seed, corpus / "pretrain", upstream, profile, flops),
            run_dir,
            profile.ttq_torch_threads,
        )
        if arm.recipe == EXAMPLE:  # the example saves no feature extractor; the probe reads it from the upstream
            Wav2Vec2FeatureExtractor.from_pretrained(HUB_CONFIGS / profile.ttq_config).save_pretrained(upstream)
        costs = json.loads((upstream / "costs.json").read_text())
        result = {
            "updates": costs["optimizer_steps"],
            "flops": costs[FLOPS],
            "audio_hours": costs["audio_hours"],
            **measured,
        }
    finished.write_text(json.dumps(result, indent=2) + "\n")
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
        run_process(command, out, profile.ttq_torch_threads)
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


def summarise(arms: list[Arm], runs: dict, tables: dict, seeds: tuple[int, ...]) -> list[dict]:
    """Per arm: its costs over seeds, accuracy with its interval, and its paired difference from the example."""
    example = arms[0]
    reference = [tables[example, s] for s in seeds]
    rows = []
    for arm in arms:
        own = [tables[arm, s] for s in seeds]
        per_seed = [{"seed": s, **runs[arm, s], "accuracy": float(tables[arm, s]["correct"].mean())} for s in seeds]
        row = {
            "name": arm.name,
            "recipe": arm.recipe,
            "budget": arm.budget,
            "example_updates": example.updates,
            "runs": per_seed,
            "accuracy": _interval(interval("accuracy", own)),
        }
        for key in ("updates", "flops", "audio_hours", "wall_seconds", "peak_rss_mb"):
            values = [r[key] for r in per_seed if r[key] is not None]
            row[key] = spread(values) if values else None
        row["flops_share_of_example"] = spread([runs[arm, s]["flops"] / runs[example, s]["flops"] for s in seeds])
        row["difference"] = None if arm == example else _interval(paired_difference("accuracy", own, reference))
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
    }


def run(profile: Profile, workdir: Path) -> dict:
    root = (workdir / "time_to_quality").resolve()  # every process runs in its own folder
    runs_dir = root / profile.name
    corpus = make_corpus(profile, root)
    seeds = profile.ttq_seeds
    plans = {updates: arms_of(profile, updates) for updates in profile.ttq_updates}
    every_arm = list(dict.fromkeys(arm for arms in plans.values() for arm in arms))

    def folder(arm: Arm, seed: int) -> Path:
        return runs_dir / f"seed-{seed}" / arm.slug

    def task(arm: Arm, seed: int, flops: Callable[[], float | None] = lambda: None):
        return lambda: pretrain(arm, seed, corpus, folder(arm, seed), profile, flops())

    # The example and the same-updates arms first; the same-FLOPs arms need the example's counted FLOPs.
    first = [(arm, s) for arm in every_arm if arm.budget != "flops" for s in seeds]
    runs = dict(zip(first, in_parallel([task(arm, s) for arm, s in first], profile.ttq_jobs)))
    then = [(arm, s) for arm in every_arm if arm.budget == "flops" for s in seeds]
    runs |= dict(
        zip(
            then,
            in_parallel(
                [
                    task(arm, s, lambda a=arm, s=s: runs[Arm(EXAMPLE, "updates", a.updates), s]["flops"])
                    for arm, s in then
                ],
                profile.ttq_jobs,
            ),
        )
    )
    keys = list(runs)
    tables = dict(
        zip(
            keys,
            in_parallel([lambda a=a, s=s: probe(folder(a, s), s, corpus, profile) for a, s in keys], profile.ttq_jobs),
        )
    )
    budgets = []
    for updates, arms in plans.items():
        rows = summarise(arms, runs, tables, seeds)
        budgets.append({"example_updates": updates, "arms": rows, "goal": goal(rows)})
    return {
        "profile": profile.name,
        "config_name": profile.ttq_config,
        "batch_size": profile.ttq_batch_size,
        "seeds": list(seeds),
        "torch_threads": profile.ttq_torch_threads,
        "jobs": profile.ttq_jobs,
        "probe_args": list(profile.ttq_probe_args),
        "optimizer": optimizer_defaults(),
        "corpus": {
            "voices": dict(zip(("pretraining", "kws_train", "kws_validation", "kws_test"), profile.ttq_voices)),
            **describe_corpus(corpus),
        },
        "test_clips": len(next(iter(tables.values()))["correct"]),
        "budgets": budgets,
    }


# --------------------------------------------------------------------------- figure and report


def plot(results: dict, path: Path) -> Path:
    """kws accuracy against counted pre-training FLOPs: one line per recipe, 95% intervals; untrained as a band."""
    k = scale("accuracy")
    figure, axis = plt.subplots(figsize=(7, 4.5))
    points: dict[str, list[tuple[float, dict]]] = {}
    untrained = None
    for budget in results["budgets"]:
        for row in budget["arms"]:
            if row["recipe"] == UNTRAINED:
                untrained = row["accuracy"]
            else:
                points.setdefault(row["recipe"], []).append((row["flops"]["median"] * scale(FLOPS), row["accuracy"]))
    for recipe, found in points.items():
        found.sort(key=lambda point: point[0])
        xs, accuracy = [x for x, _ in found], [a for _, a in found]
        ys = [a["estimate"] * k for a in accuracy]
        errors = [[y - a["low"] * k for y, a in zip(ys, accuracy)], [a["high"] * k - y for y, a in zip(ys, accuracy)]]
        name = "transformers example" if recipe == EXAMPLE else f"run_pretrain.py --max_duration {recipe[:-1]}"
        axis.errorbar(xs, ys, yerr=errors, marker="s" if recipe == EXAMPLE else "o", capsize=4, label=name)
    if untrained:
        axis.axhspan(untrained["low"] * k, untrained["high"] * k, color="grey", alpha=0.15)
        axis.axhline(untrained["estimate"] * k, color="grey", ls="--", lw=1, label="untrained (95% CI shaded)")
    axis.set_xscale("log")
    axis.set_xlabel(label(FLOPS) + ", median over seeds")
    axis.set_ylabel("kws " + label("accuracy") + ", probe")
    axis.set_title(f"Quality against compute ({results['config_name']}, {_seeds(results)}, 95% CI)")
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _points(value: dict) -> str:
    return f"{value['estimate'] * 100:+.1f} ({value['low'] * 100:+.1f} to {value['high'] * 100:+.1f})"


def _percent(value: dict) -> str:
    return f"{value['estimate'] * 100:.1f}% ({value['low'] * 100:.1f} to {value['high'] * 100:.1f})"


def _median(stats: dict | None, fmt: str) -> str:
    return "–" if stats is None else fmt.format(stats["median"])


def command(results: dict) -> str:
    trial = "" if results["profile"] == "full" else f" --{results['profile']}"
    jobs = f" --jobs {results['jobs']}" if results["jobs"] > 1 else ""
    return f"python -m benchmarks --only time_to_quality{trial}{jobs}"


def verdict(budget: dict) -> tuple[str, str]:
    """The goal's two parts, each said plainly: met or missed, and by how much."""
    rows = {(r["recipe"], r["budget"]): r for r in budget["arms"]}
    flops_diff = rows[GOAL_RECIPE, "flops"]["difference"]
    updates_row = rows[GOAL_RECIPE, "updates"]
    found = budget["goal"]
    same_flops = f"at equal FLOPs, {GOAL_RECIPE} minus the example: {_points(flops_diff)} points: " + (
        "**met** (the interval excludes 0)"
        if found["same_flops_better"]
        else f"**missed**: the interval's low end is {flops_diff['low'] * 100:+.1f} points, not above 0"
    )
    share_ok, margin_ok = found["same_updates_cheap_enough"], found["same_updates_non_inferior"]
    low = updates_row["difference"]["low"] * 100
    same_updates = (
        f"at equal updates, {GOAL_RECIPE} costs {found['same_updates_flops_share']:.2f}x the example's "
        f"FLOPs ({'within' if share_ok else 'above'} {GOAL_FLOPS_SHARE}x) and differs by "
        f"{_points(updates_row['difference'])} points (interval's low end {low:+.1f}, goal above "
        f"{GOAL_MARGIN * 100:+.0f}): " + ("**met**" if share_ok and margin_ok else "**missed**")
    )
    return same_flops, same_updates


def _seeds(results: dict) -> str:
    count = len(results["seeds"])
    return f"{count} seed{'s' if count != 1 else ''}"


def headline(results: dict) -> str:
    lines = []
    for budget in results["budgets"]:
        same_flops, same_updates = verdict(budget)
        lines.append(
            f"- Time to quality against the transformers example ({results['config_name']}, "
            f"{budget['example_updates']} example updates, {_seeds(results)}, kws probe): "
            f"{same_flops}; {same_updates}."
        )
    return "\n".join(lines)


def section(results: dict) -> str:
    corpus = results["corpus"]
    voices = corpus["voices"]
    lengths = corpus["pretraining_seconds"]
    intro = (
        f"Command: `{command(results)}` (profile `{results['profile']}`). The transformers example "
        f"(`benchmarks/transformers_example.py`, its documented settings: whole utterances of "
        f"{EXAMPLE_MIN_SECONDS:g}-{EXAMPLE_MAX_SECONDS:g} s truncated once, random batches padded to the longest) "
        f"against `run_pretrain.py --max_duration 2` and `4`, {results['config_name']}, {results['batch_size']} "
        f"utterances or crops per update, the same AdamW settings for both (run_pretrain's: "
        + ", ".join(f"{k} {v:g}" for k, v in results["optimizer"].items())
        + "; ours also clips the gradient norm at 10, the example does not). Two budgets: the example's number of "
        "updates, and the example's counted FLOPs (`--max_train_flops`, per seed). Pre-trained on "
        f"{corpus['pretraining_files']} long utterances ({corpus['pretraining_hours']:.2f} h, "
        f"{lengths['min']:.1f}-{lengths['max']:.1f} s, median {lengths['median']:.1f} s) of {voices['pretraining']} "
        "espeak-ng voices; probed on keyword clips of voices pre-training never heard "
        f"({voices['kws_train']} training, {voices['kws_validation']} validation, {voices['kws_test']} test voices; "
        f"{results['test_clips']} test clips, 12 classes) with the study's default probe (kws, `--freeze_upstream`, "
        "run_downstream's probing defaults"
        + (f", plus `{' '.join(results['probe_args'])}`" if results["probe_args"] else "")
        + "). "
        f"Seeds {', '.join(map(str, results['seeds']))}: a seed pre-trains and probes every arm. Counted FLOPs and "
        "audio seen come from each run's CostMeter (the example's `--stats_file`, counted the same way: "
        "FlopCounterMode on the first updates, extrapolated per second of audio fed); wall-clock and peak RSS are "
        "each process from start to saved model, one torch thread each"
        + (f", {results['jobs']} processes at a time" if results["jobs"] > 1 else "")
        + ". Accuracy intervals and the paired differences from the example (on test clips and seeds) are "
        "`hf_seqlen.statistics`' as the study computes them. Medians over seeds."
    )
    parts = [intro, f"![quality against compute](results/{PLOT_NAME})"]
    for budget in results["budgets"]:
        rows = [
            [
                r["name"],
                _median(r["updates"], "{:.0f}"),
                _median(r["flops"], "{:.3g}"),
                f"{r['flops_share_of_example']['median']:.2f}x",
                _median(r["wall_seconds"], "{:.0f}"),
                _median(r["peak_rss_mb"], "{:.0f}"),
                _median(r["audio_hours"], "{:.3f}"),
                _percent(r["accuracy"]),
                "(reference)" if r["difference"] is None else _points(r["difference"]),
            ]
            for r in budget["arms"]
        ]
        header = [
            "arm",
            "updates",
            "counted FLOPs",
            "FLOPs / example",
            "wall-clock (s)",
            "peak RSS (MiB)",
            "audio seen (h)",
            "kws accuracy (95% CI)",
            "minus example, points (95% CI)",
        ]
        table = "\n".join(
            ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            + ["| " + " | ".join(row) + " |" for row in rows]
        )
        same_flops, same_updates = verdict(budget)
        parts += [
            f"The example with {budget['example_updates']} updates:",
            table,
            f"Goal: {same_flops}; {same_updates}.",
        ]
    return "\n\n".join(parts)
