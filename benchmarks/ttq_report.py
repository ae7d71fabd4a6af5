"""The time-to-quality frontier as a figure and as the section of RESULTS.md: every sentence that judges is computed
from the results (ttq_frontier.py's standings and trend), none is written by hand."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from hf_seqlen.study.figures import label, scale

from .ttq_arms import (
    EXAMPLE,
    EXAMPLE_MAX_SECONDS,
    EXAMPLE_MIN_SECONDS,
    EXAMPLE_README,
    README_DEMO_ACCUMULATION,
    README_DEMO_OPTIMIZER,
    README_DEMO_WARMUP_SHARE,
    UNTRAINED,
    updates_text,
)
from .ttq_frontier import KEPT_GAIN, standing, trend

FLOPS = "flops_total_estimated_from_counted_steps"
PLOT_NAME = "time_to_quality.png"
# The goal this measures: at equal FLOPs the 2 s arm beats the example beyond its interval; at equal updates it
# costs at most this share of the example's FLOPs and its interval lies above this difference (and it keeps
# KEPT_GAIN of the example's gain over untrained).
GOAL_RECIPE, GOAL_FLOPS_SHARE, GOAL_MARGIN = "2s", 0.3, -0.04


def line_name(recipe: str, budget: str) -> str:
    if recipe == EXAMPLE:
        return "transformers example"
    if recipe == EXAMPLE_README:
        return "transformers example, its README demo's settings"
    return f"run_pretrain.py --max_duration {recipe[:-1]}, same {'FLOPs' if budget == 'flops' else 'updates'}"


def lines(results: dict) -> dict[str, list[tuple[int, dict]]]:
    """Per recipe (an arm's recipe and budget), its points across budgets: (the example's updates, its row)."""
    found: dict[str, list[tuple[int, dict]]] = {}
    for budget in results["budgets"]:
        for row in budget["arms"]:
            if row["recipe"] != UNTRAINED:
                found.setdefault(line_name(row["recipe"], row["budget"]), []).append((budget["example_updates"], row))
    return found


def _untrained(results: dict) -> dict:
    """Untrained over the most seeds any budget ran."""
    budget = max(results["budgets"], key=lambda b: len(b["seeds"]))
    return next(row["accuracy"] for row in budget["arms"] if row["recipe"] == UNTRAINED)


def as_frontier(results: dict) -> dict:
    """`results` with what a record made before the frontier lacks (one budget, one seed list, no 75% line, no
    README settings) filled in as absent, so that an older record still renders as it was measured."""
    budgets = [
        {
            "seeds": results["seeds"],
            **budget,
            "arms": [{"keeps_gain": None, "gain_share": None, **row} for row in budget["arms"]],
            "goal": {"same_updates_keeps_gain": None, **budget["goal"]},
        }
        for budget in results["budgets"]
    ]
    earlier = {"headline_updates": results["budgets"][-1]["example_updates"], "frontier": None}
    return {**earlier, **results, "budgets": budgets}


def draw(results: dict) -> Figure:
    """kws accuracy against counted pre-training FLOPs and against wall-clock: one line per recipe across budgets,
    each point labelled by the example's updates it is matched to, 95% intervals; untrained as a band."""
    results = as_frontier(results)
    k = scale("accuracy")
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    for axis, key, x_scale, x_label in (
        (axes[0], "flops", scale(FLOPS), label(FLOPS)),
        (axes[1], "wall_seconds", 1.0, "wall-clock of the pre-training process (s)"),
    ):
        for name, points in lines(results).items():
            xs = [row[key]["median"] * x_scale for _, row in points]
            ys = [row["accuracy"]["estimate"] * k for _, row in points]
            errors = [
                [y - row["accuracy"]["low"] * k for y, (_, row) in zip(ys, points)],
                [row["accuracy"]["high"] * k - y for y, (_, row) in zip(ys, points)],
            ]
            marker = "s" if name.startswith("transformers") else "o"
            axis.errorbar(xs, ys, yerr=errors, marker=marker, capsize=3, label=name)
            for (updates, _), x, y in zip(points, xs, ys):
                axis.annotate(str(updates), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        untrained = _untrained(results)
        axis.axhspan(untrained["low"] * k, untrained["high"] * k, color="grey", alpha=0.15)
        axis.axhline(untrained["estimate"] * k, color="grey", ls="--", lw=1, label="untrained (95% CI shaded)")
        axis.set_xscale("log")
        axis.xaxis.set_minor_formatter(NullFormatter())  # budgets a few times apart: minor labels would overlap
        axis.set_xlabel(x_label + ", median over seeds")
        axis.grid(True, alpha=0.3)
    axes[0].set_ylabel("kws " + label("accuracy") + ", probe")
    axes[1].legend(fontsize=7)
    figure.suptitle(
        f"Quality against compute ({results['config_name']}; points labelled by the example's updates; 95% CI)"
    )
    figure.tight_layout()
    return figure


def plot(results: dict, path: Path) -> Path:
    figure = draw(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


# --------------------------------------------------------------------------- the words


def _points(value: dict) -> str:
    return f"{value['estimate'] * 100:+.1f} ({value['low'] * 100:+.1f} to {value['high'] * 100:+.1f})"


def _percent(value: dict) -> str:
    return f"{value['estimate'] * 100:.1f}% ({value['low'] * 100:.1f} to {value['high'] * 100:.1f})"


def _median(stats: dict | None, fmt: str) -> str:
    return "–" if stats is None else fmt.format(stats["median"])


def _seeds(count: int) -> str:
    return f"{count} seed{'s' if count != 1 else ''}"


def _listed(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers))


def _at(budgets: list[int]) -> str:
    return f"at {_listed(budgets)} example updates" if budgets else "at no budget"


def command(results: dict) -> str:
    trial = "" if results["profile"] == "full" else f" --{results['profile']}"
    jobs = f" --jobs {results['jobs']}" if results["jobs"] > 1 else ""
    return f"python -m benchmarks --only time_to_quality{trial}{jobs}"


def _row(budget: dict, recipe: str, kind: str) -> dict:
    return next(r for r in budget["arms"] if (r["recipe"], r["budget"]) == (recipe, kind))


def _share(row: dict) -> str:
    return "–" if row["gain_share"] is None else f"{row['gain_share'] * 100:.0f}%"


def verdict(budget: dict) -> tuple[str, str]:
    """The goal's two parts at one budget, each said plainly: met or missed, and by how much."""
    flops_diff = _row(budget, GOAL_RECIPE, "flops")["difference"]
    updates_row = _row(budget, GOAL_RECIPE, "updates")
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
    if found["same_updates_keeps_gain"] is not None:
        same_updates += (
            f"; it keeps {_share(updates_row)} of the example's gain over untrained (arm - {KEPT_GAIN:g} example - "
            f"{1 - KEPT_GAIN:g} untrained: {_points(updates_row['keeps_gain'])} points): "
            + ("**keeps**" if found["same_updates_keeps_gain"] else "**does not keep**")
            + f" at least {KEPT_GAIN:.0%} of it"
        )
    return same_flops, same_updates


def frontier_summary(results: dict) -> str:
    """At which budgets the goal recipe is ahead of, level with or behind the example at equal FLOPs, and how the
    gap moves as the budget grows."""
    standings: dict[str, list[int]] = {"ahead": [], "level": [], "behind": []}
    gaps = []
    for budget in results["budgets"]:
        difference = _row(budget, GOAL_RECIPE, "flops")["difference"]
        standings[standing(difference)].append(budget["example_updates"])
        gaps.append(f"{difference['estimate'] * 100:+.1f} at {budget['example_updates']}")
    text = (
        f"At equal counted FLOPs, `--max_duration {GOAL_RECIPE[:-1]}` beats the example (interval above 0) "
        f"{_at(standings['ahead'])}; they are level (interval across 0) {_at(standings['level'])}; the example is "
        f"ahead {_at(standings['behind'])}. Gap, points: {'; '.join(gaps)}."
    )
    found = results.get("frontier")
    if found:
        change = found["gap_change"]
        first = _row(results["budgets"][0], GOAL_RECIPE, "flops")["difference"]["estimate"]
        moves = {
            "narrows": "narrows",
            "widens": "widens",
            "holds": "moves by no more than its interval can tell from nothing",
        }[trend(first, change)]
        text += (
            f" From {found['smallest']} to {found['largest']} example updates the gap {moves}: it changes by "
            f"{_points(change)} points (paired on test clips and seeds {_listed(found['seeds'])})."
        )
    return text


def headline(results: dict) -> str:
    results = as_frontier(results)
    budgets = "/".join(str(b["example_updates"]) for b in results["budgets"])
    lines_ = [
        f"- Time to quality against the transformers example ({results['config_name']}, {budgets} example "
        f"updates, kws probe): {frontier_summary(results)}"
    ]
    for budget in results["budgets"]:
        if budget["example_updates"] == results["headline_updates"]:
            _, same_updates = verdict(budget)
            lines_.append(
                f"- At {budget['example_updates']} example updates ({_seeds(len(budget['seeds']))}): {same_updates}."
            )
    return "\n".join(lines_)


def _crops(results: dict, budget: str) -> str:
    """The run_pretrain.py arms given this kind of budget, as their option reads: `--max_duration 2` and `4`."""
    recipes = dict.fromkeys(
        row["recipe"]
        for b in results["budgets"]
        for row in b["arms"]
        if row["budget"] == budget and row["recipe"][0].isdigit()
    )
    return "`--max_duration " + "` and `".join(recipe[:-1] for recipe in recipes) + "`"


def any_readme_arm(results: dict) -> bool:
    return any(row["recipe"] == EXAMPLE_README for budget in results["budgets"] for row in budget["arms"])


def readme_settings(results: dict) -> str:
    readme = README_DEMO_OPTIMIZER
    return (
        f" At {results['headline_updates']} updates the example also runs with its README demo's settings scaled to "
        f"the budget: learning rate {readme['learning_rate']:g}, AdamW betas ({readme['adam_beta1']:g}, "
        f"{readme['adam_beta2']:g}), epsilon {readme['adam_epsilon']:g}, weight decay {readme['weight_decay']:g}, "
        f"{README_DEMO_ACCUMULATION} batches accumulated per update (the budget's batches over an eighth of its "
        "updates; an epoch's end closes an update early, as in the example), warm-up "
        f"{README_DEMO_WARMUP_SHARE:g} times the run's updates (the demo's 32000 over 20000); one process of "
        f"{results['batch_size']} where the demo ran two GPUs of 8, and without gradient checkpointing (which changes "
        "memory, not the result)."
    )


def intro(results: dict) -> str:
    corpus = results["corpus"]
    voices, lengths = corpus["voices"], corpus["pretraining_seconds"]
    cut = corpus.get("cut_to_seconds")
    seeds = {b["example_updates"]: len(b["seeds"]) for b in results["budgets"]}
    return (
        f"Command: `{command(results)}` (profile `{results['profile']}`). The transformers example "
        f"(`benchmarks/transformers_example.py`, its data pipeline as its README runs it: whole utterances of "
        f"{EXAMPLE_MIN_SECONDS:g}-{EXAMPLE_MAX_SECONDS:g} s truncated once, random batches padded to the longest) "
        f"against `run_pretrain.py`, both pre-training {results['config_name']} (a "
        f"layer-norm, stable-layer-norm encoder: the only kind the example accepts), {results['batch_size']} "
        "utterances or crops per batch. Budgets: the example's number of updates, "
        + ", ".join(f"{u} ({_seeds(n)})" for u, n in seeds.items())
        + "; at each: the example, with the same AdamW settings as ours (run_pretrain's: "
        + ", ".join(f"{k} {v:g}" for k, v in results["optimizer"].items())
        + f"; ours also clips the gradient norm at 10, the example does not); {_crops(results, 'updates')} with the "
        f"example's number of updates; {_crops(results, 'flops')} with the example's counted FLOPs "
        "(`--max_train_flops`, per seed); and the config untrained, initialised with the seed."
        + (readme_settings(results) if any_readme_arm(results) else "")
        + f" Pre-trained on {corpus['pretraining_files']} long utterances "
        f"({corpus['pretraining_hours']:.2f} h, {lengths['min']:.1f}-{lengths['max']:.1f} s, median "
        f"{lengths['median']:.1f} s"
        + (f"; synthesised at 10.5-16 s, each cut to {cut[0]:g}-{cut[1]:g} s" if cut else "")
        + f") of {voices['pretraining']} espeak-ng voices; probed on keyword clips of voices pre-training never heard "
        f"({voices['kws_train']} training, {voices['kws_validation']} validation, {voices['kws_test']} test voices; "
        f"{results['test_clips']} test clips, 12 classes) with the study's default probe (kws, `--freeze_upstream`, "
        "run_downstream's probing defaults"
        + (f", plus `{' '.join(results['probe_args'])}`" if results["probe_args"] else "")
        + "). A seed pre-trains and probes every arm of a budget. Counted FLOPs and audio seen come from each run's "
        "CostMeter (the example's `--stats_file`, counted the same way: FlopCounterMode on the first updates, "
        "extrapolated per second of audio fed); wall-clock and peak RSS are each process from start to saved model, "
        f"{results['torch_threads']} torch thread(s) each"
        + (f", {results['jobs']} processes at a time" if results["jobs"] > 1 else "")
        + ". Accuracy intervals, the paired differences from the example (on test clips and seeds) and the contrasts "
        "below are `hf_seqlen.statistics`' as the study computes them. Non-inferiority is judged twice: the "
        f"difference's low end above {GOAL_MARGIN * 100:+.0f} points, and keeping at least {KEPT_GAIN:.0%} of the "
        f"example's gain over an untrained upstream (the contrast arm - {KEPT_GAIN:g} example - {1 - KEPT_GAIN:g} "
        "untrained, its low end above 0). Medians over seeds."
        # what the harness cannot see about its machine, written into the record by whoever ran it
        + (f" {results['conditions']}" if results.get("conditions") else "")
    )


HEADER = [
    "arm",
    "updates",
    "counted FLOPs",
    "FLOPs / example",
    "wall-clock (s)",
    "peak RSS (MiB)",
    "audio seen (h)",
    "kws accuracy (95% CI)",
    "minus example, points (95% CI)",
    f"example's gain kept; {KEPT_GAIN:.0%} line, points (95% CI)",
]


def table(budget: dict) -> str:
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
            "–" if r["keeps_gain"] is None else f"{_share(r)}; {_points(r['keeps_gain'])}",
        ]
        for r in budget["arms"]
    ]
    return "\n".join(
        ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)] + ["| " + " | ".join(row) + " |" for row in rows]
    )


def section(results: dict) -> str:
    results = as_frontier(results)
    parts = [
        intro(results),
        f"![quality against compute](results/{PLOT_NAME})",
        f"**Frontier.** {frontier_summary(results)}",
    ]
    for budget in results["budgets"]:
        same_flops, same_updates = verdict(budget)
        parts += [
            f"The example with {updates_text(budget['example_updates'])} ({_seeds(len(budget['seeds']))}):",
            table(budget),
            f"Goal: {same_flops}; {same_updates}.",
        ]
    return "\n\n".join(parts)
