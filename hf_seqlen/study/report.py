"""The study's report: one row per arm (a duration or a schedule) with its budget, its measured costs
and every downstream metric with a 95% confidence interval, the paired difference against a reference
arm, as CSV and Markdown, figures, and a headline that claims only what the intervals support.

Reads only what the runs wrote: `<arm>/seed-<s>/pretrain/costs.json` and
`<arm>/seed-<s>/<task>/test_examples.jsonl` (see statistics.py for how the intervals are made).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from ..downstream.results import read_examples
from ..option_parsing import UsageError
from ..statistics import METRICS, holm, interval, outcome_table, paired_difference, table_size
from . import figures
from .arm import Arm
from .budgets import BUDGETS

# Metrics where lower is better; every other metric is taken as higher-is-better.
LOWER_IS_BETTER = ("wer", "cer", "loss")
# Cost columns to compare, most informative first; the first present in every arm is "the cost".
COST_COLUMNS = (
    "flops_total_estimated_from_counted_steps",
    "device_hours",
    "wall_clock_seconds",
    "audio_hours",
    "energy_kwh_estimated",
)
# Accuracy-like metrics read in points (x100); error rates stay rates.
POINTS = ("accuracy", "f1", "uar")


def lower_is_better(metric: str) -> bool:
    return any(metric.endswith(suffix) for suffix in LOWER_IS_BETTER)


def seed_dir(sweep_dir: Path, arm_name: str, seed: int) -> Path:
    return sweep_dir / arm_name / f"seed-{seed}"


def _numbers(mapping: dict) -> dict:
    return {k: v for k, v in mapping.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def arm_tables(sweep_dir: Path, arm_name: str, task: str, seeds: list[int]) -> dict[int, dict]:
    """{seed: outcome table} of one arm's task, for the seeds whose run stored its test outcomes."""
    tables = {}
    for seed in seeds:
        examples = read_examples(seed_dir(sweep_dir, arm_name, seed) / task)
        if examples:
            tables[seed] = outcome_table(examples)
    return tables


def task_measures(table: dict) -> list[str]:
    """What the report measures of a task from its outcome table (statistics.METRICS but uar); a row holds each
    measure as the metric `task_measure`."""
    present = [m for m in METRICS if m in ("wer", "cer") and "words" in table or m in POINTS and "correct" in table]
    return [m for m in present if m != "uar"]


def check_reference_arm(reference_arm: str | None, arm_names: list[str]) -> None:
    if reference_arm and reference_arm not in arm_names:
        raise UsageError(f"--reference_arm {reference_arm} is not an arm of this sweep (arms: {', '.join(arm_names)}).")


def reference_row(rows: list[dict], reference_arm: str | None) -> dict:
    """The arm others are compared with: the one named, else the longest fixed duration (else the last)."""
    if reference_arm:
        check_reference_arm(reference_arm, [r["arm"] for r in rows])
        return next(r for r in rows if r["arm"] == reference_arm)
    fixed = [r for r in rows if not r["schedule"]]
    return max(fixed, key=lambda r: r["max_duration"]) if fixed else rows[-1]


def run_costs(sweep_dir: Path, arm_name: str, seed: int) -> dict | None:
    path = seed_dir(sweep_dir, arm_name, seed) / "pretrain" / "costs.json"
    return json.loads(path.read_text()) if path.is_file() else None


def flagged_runs(sweep_dir: Path, arms: list[Arm], seeds: list[int]) -> dict[tuple[str, int], list[str]]:
    """{(arm name, seed): what went wrong} for the pre-training runs that did not learn (costs.json
    `training_health`)."""
    flagged = {}
    for arm in arms:
        for seed in seeds:
            training_health = (run_costs(sweep_dir, arm.name, seed) or {}).get("training_health") or {}
            if training_health.get("problems"):
                flagged[arm.name, seed] = training_health["problems"]
    return flagged


def collect(sweep_dir: Path, arms: list[Arm], tasks: list[str], seeds: list[int], reference_arm: str | None = None):
    """Rows (one per arm that finished pre-training in some seed) and the comparisons behind them."""
    rows, tables_of = [], {}  # {(arm name, task): {seed: outcome table}}
    for arm in arms:
        costs = [c for s in seeds if (c := run_costs(sweep_dir, arm.name, s)) is not None]
        if not costs:
            continue
        row = {
            "arm": arm.name,
            "max_duration": arm.max_duration,
            "schedule": arm.schedule,
            "seeds": len(costs),
            "runs_that_did_not_learn": sum(bool((c.get("training_health") or {}).get("problems")) for c in costs),
        }
        numbers = [_numbers(c) for c in costs]
        row.update({k: float(np.mean([n[k] for n in numbers])) for k in numbers[0] if all(k in n for n in numbers)})
        rows.append(row)
        for task in tasks:
            tables_of[arm.name, task] = arm_tables(sweep_dir, arm.name, task, seeds)
    if not rows:
        return rows, None
    reference = reference_row(rows, reference_arm)
    cost = cost_column(rows)
    for row in rows:
        row["reference_arm"] = reference["arm"]
        if cost:
            row["cost_ratio_vs_reference"] = row[cost] / reference[cost] if reference[cost] else float("nan")
        for task in tasks:
            _compare(row, task, tables_of[row["arm"], task], tables_of[reference["arm"], task])
    adjust_for_many_comparisons(rows)
    return rows, reference


def comparisons(rows: list[dict]) -> list[tuple[dict, str]]:
    """The report's comparisons, as (row, p-value column): each arm but the reference against the reference, per
    task and metric. The reference's row holds its difference with itself (zero), which compares nothing."""
    return [
        (row, key)
        for row in rows
        if row["arm"] != row["reference_arm"]
        for key in list(row)
        if key.endswith("_diff_p_value")
    ]


def adjust_for_many_comparisons(rows: list[dict]) -> None:
    """Holm-adjusted p-values over every comparison of the report (arms x tasks x metrics), beside the raw ones:
    at 95% each, one comparison in twenty looks different by chance."""
    keys = comparisons(rows)
    for (row, key), adjusted in zip(keys, holm([row[key] for row, key in keys])):
        row[key.replace("_diff_p_value", "_diff_p_holm")] = adjusted


def _compare(row: dict, task: str, tables: dict, reference_tables: dict) -> None:
    if not tables:
        return
    seeds = sorted(tables)
    row[f"{task}_test_examples"] = table_size(tables[seeds[0]])
    common = [s for s in seeds if s in reference_tables]
    for measure in task_measures(tables[seeds[0]]):
        metric = f"{task}_{measure}"
        own = interval(measure, [tables[s] for s in seeds])
        row[metric], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = own.estimate, own.low, own.high
        row[f"{metric}_seeds"] = own.seeds
        if own.speakers:
            row[f"{task}_test_speakers"] = own.speakers
        if common:
            diff = paired_difference(measure, [tables[s] for s in common], [reference_tables[s] for s in common])
            row[f"{metric}_diff_vs_reference"] = diff.estimate
            row[f"{metric}_diff_ci_low"], row[f"{metric}_diff_ci_high"] = diff.low, diff.high
            row[f"{metric}_diff_seeds"], row[f"{metric}_diff_p_value"] = diff.seeds, diff.p_value


def metric_columns(rows: list[dict], tasks: list[str]) -> list[str]:
    """`task_metric` names with an estimate (not their CI or difference columns)."""
    names = {
        k for row in rows for k in row if any(k.startswith(f"{t}_") for t in tasks) and k.split("_", 1)[1] in METRICS
    }
    return sorted(names)


def cost_column(rows: list[dict]) -> str | None:
    return next((c for c in COST_COLUMNS if rows and all(c in r for r in rows)), None)


def state(metric: str, value: float) -> str:
    """A metric value in its reading units: points (%) for accuracy-like metrics, a rate for WER/CER."""
    return f"{value * 100:.1f}%" if metric.split("_")[-1] in POINTS else f"{value:.3f}"


def state_difference(metric: str, value: float) -> str:
    return f"{value * 100:+.1f} points" if metric.split("_")[-1] in POINTS else f"{value:+.3f}"


def difference_text(metric: str, row: dict) -> str:
    """`-7.5 points (95% CI -20.0 to +5.0)`, or `identical` where no example changed in any seed."""
    value, low, high = (row[f"{metric}_{part}"] for part in ("diff_vs_reference", "diff_ci_low", "diff_ci_high"))
    if low == high == 0:
        return "identical"
    unit = " points" if metric.split("_")[-1] in POINTS else ""
    strip = len(unit)
    return (
        f"{state_difference(metric, value)} (95% CI {state_difference(metric, low)[: -strip or None]} to "
        f"{state_difference(metric, high)[: -strip or None]}{unit})"
    )


def seeds_text(seeds: int) -> str:
    return "on one pre-training seed (the interval covers test examples only)" if seeds == 1 else f"{seeds} seeds"


def verdict(row: dict, metric: str) -> str:
    """What a comparison with the reference says: better, worse, no detectable difference, identical, not compared."""
    low, high = row.get(f"{metric}_diff_ci_low"), row.get(f"{metric}_diff_ci_high")
    if low is None:
        return "not compared"
    if low == high == 0:
        return "identical"
    if low > 0 or high < 0:
        return "better" if (high < 0) == lower_is_better(metric) else "worse"
    return "no detectable difference"


def describe(row: dict, reference: dict, metric: str) -> str:
    """One comparison in words: a difference only when its 95% CI excludes zero, with the seeds it rests on, and
    whether it survives Holm's adjustment for the report's many comparisons."""
    found = verdict(row, metric)
    label = metric.replace("_", " ")
    values = f"{state(metric, row[metric])} vs {state(metric, reference[metric])}"
    if found == "not compared":
        return f"{label} {values} (seeds not shared with {reference['arm']}; not compared)"
    seeds = seeds_text(int(row.get(f"{metric}_diff_seeds", row["seeds"])))
    if found == "identical":
        return f"{label} {values}: identical on every example in every seed ({seeds})"
    difference = difference_text(metric, row)
    if found in ("better", "worse"):
        holm_p = row.get(f"{metric}_diff_p_holm")
        family = (
            ""
            if holm_p is None
            else (
                "; holds after Holm's adjustment"
                if holm_p < 0.05
                else f"; not after Holm's adjustment for the report's comparisons (adjusted p {holm_p:.2f})"
            )
        )
        return f"{label} {values}: {found}, difference {difference}, {seeds}{family}"
    task = metric.split("_")[0]
    count = int(row.get(f"{task}_test_speakers", 0))
    speakers = f" from {count} speaker{'s' if count > 1 else ''}" if count else ""
    return (
        f"{label} {values}: no detectable difference at this size ({int(row[f'{task}_test_examples'])} "
        f"examples{speakers}, {seeds}; difference {difference})"
    )


def headline(rows: list[dict], reference: dict, tasks: list[str]) -> list[str]:
    lines = []
    for row in rows:
        if row is reference:
            continue
        parts = [describe(row, reference, m) for m in metric_columns([row], tasks) if m in reference]
        ratio = row.get("cost_ratio_vs_reference")
        cost_text = (
            f"costs {ratio:.0%} of {reference['arm']} in {figures.label(cost_column(rows))}"
            if ratio is not None
            else ""
        )
        lines.append(f"{row['arm']} {cost_text}; " + "; ".join(parts) + ".")
    return lines


def verdict_changes(rows: list[dict], without: list[dict], tasks: list[str]) -> list[str]:
    """Comparisons whose verdict differs between two reports of one study (e.g. with and without some runs)."""
    others = {row["arm"]: row for row in without}
    changes = []
    for row in rows:
        if row["arm"] == row["reference_arm"]:
            continue
        other = others.get(row["arm"], {})
        for metric in metric_columns([row], tasks):
            before, after = verdict(row, metric), verdict(other, metric) if metric in other else "not compared"
            if before != after:
                changes.append(f"{row['arm']} {metric.replace('_', ' ')}: {before} -> {after}")
    return changes


def health_lines(sweep_dir: Path, arms: list[Arm], tasks: list[str], seeds: list[int], rows, reference) -> list[str]:
    """The pre-training runs that did not learn, per arm and seed, and whether the headline changes without their
    seeds (left out of every arm, so that the comparisons stay paired). They stay in every figure of the report."""
    flagged = flagged_runs(sweep_dir, arms, seeds)
    if not flagged:
        return []
    dropped = sorted({seed for _, seed in flagged})
    named = f"seed{'s' if len(dropped) > 1 else ''} {', '.join(map(str, dropped))}"
    lines = [
        "## Pre-training runs that did not learn",
        "",
        "These runs are in every figure above (costs.json `training_health` says why each is flagged):",
        "",
        *(f"- {arm_name} seed {seed}: {'; '.join(problems)}" for (arm_name, seed), problems in sorted(flagged.items())),
        "",
    ]
    kept = [seed for seed in seeds if seed not in dropped]
    without, reference_without = collect(sweep_dir, arms, tasks, kept, reference["arm"]) if kept else ([], None)
    if not any(row["arm"] == reference["arm"] for row in without):
        return lines + [f"Without {named} no run of the reference, {reference['arm']}, is left: no headline."]
    changes = verdict_changes(rows, without, tasks)
    lines.append(
        f"Without {named} (in every arm) the headline's verdicts change: " + "; ".join(changes) + "."
        if changes
        else f"Without {named} (in every arm) every verdict of the headline stays the same."
    )
    return (
        lines
        + ["", f"The headline without {named}:", ""]
        + [f"- {line}" for line in headline(without, reference_without, tasks)]
    )


def budget_lines(rows: list[dict], budget: str) -> list[str]:
    lines = [
        f"Held equal across arms: {BUDGETS[budget].held}.",
        "",
        "| arm | updates | audio (hours) | pre-training compute (TFLOP, counted) |",
        "|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['arm']} | {row.get('optimizer_steps', float('nan')):.0f} | "
            f"{row.get('audio_hours', float('nan')):.4g} | "
            f"{row.get('flops_total_estimated_from_counted_steps', float('nan')) / 1e12:.4g} |"
        )
    return lines


def write_csv(rows: list[dict], path: Path) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def results_table(rows: list[dict], tasks: list[str]) -> list[str]:
    metrics = metric_columns(rows, tasks)
    header = (
        ["arm", "seeds", "cost vs reference"]
        + [f"{m.replace('_', ' ')} (95% CI)" for m in metrics]
        + [f"{m.replace('_', ' ')} minus reference (95% CI)" for m in metrics]
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["arm"], str(row["seeds"]), f"{row.get('cost_ratio_vs_reference', float('nan')):.2f}x"]
        cells += [
            f"{state(m, row[m])} ({state(m, row[f'{m}_ci_low'])} to {state(m, row[f'{m}_ci_high'])})"
            if m in row
            else ""
            for m in metrics
        ]
        cells += [
            "(reference)"
            if row["arm"] == row["reference_arm"]
            else difference_text(m, row)
            if f"{m}_diff_vs_reference" in row
            else ""
            for m in metrics
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_markdown(rows, reference, tasks, *, budget: str, plots: list[Path], health: list[str], path: Path) -> None:
    lines = ["# Sequence-length study", ""]
    summary = [p for p in plots if p.stem == "summary"]
    lines += [f"![summary]({p.name})" for p in summary] + [""] if summary else []
    count = len(comparisons(rows))
    lines += [f"## Headline (each arm against {reference['arm']}, paired on test examples and seeds)", ""]
    lines += (
        [
            f"{count} comparisons at 95% each: about one in twenty of them would show a difference by "
            "chance alone. Each says whether it holds after Holm's adjustment for all of them "
            "(report.csv: `*_diff_p_value`, `*_diff_p_holm`).",
            "",
        ]
        if count > 1
        else []
    )
    lines += [f"- {line}" for line in headline(rows, reference, tasks)] + [""]
    lines += [*health, ""] if health else []
    lines += ["## Budget", "", *budget_lines(rows, budget), ""]
    lines += [
        "## Results (means over seeds; 95% CIs over test examples and pre-training seeds, with a t quantile "
        "for the few seeds; all columns in report.csv)",
        "",
        *results_table(rows, tasks),
    ]
    others = [p for p in plots if p.stem != "summary"]
    if others:
        lines += ["", "## Figures", ""] + [f"![{p.stem}]({p.name})" for p in others]
    path.write_text("\n".join(lines) + "\n")


def write_report(
    sweep_dir: Path,
    arms: list[Arm],
    tasks: list[str],
    seeds: list[int],
    reference_arm: str | None = None,
    budget: str = "steps",
) -> list[dict]:
    rows, reference = collect(sweep_dir, arms, tasks, seeds, reference_arm)
    if not rows:
        return rows
    write_csv(rows, sweep_dir / "report.csv")
    plots = figures.write_figures(
        rows,
        reference,
        tasks,
        metrics=metric_columns(rows, tasks),
        cost=cost_column(rows),
        chance_levels=chance_levels(sweep_dir, rows, tasks, seeds),
        folder=sweep_dir,
    )
    health = health_lines(sweep_dir, arms, tasks, seeds, rows, reference)
    write_markdown(rows, reference, tasks, budget=budget, plots=plots, health=health, path=sweep_dir / "report.md")
    return rows


def chance_levels(sweep_dir: Path, rows: list[dict], tasks: list[str], seeds: list[int]) -> dict[str, float]:
    """Accuracy of always guessing the commonest test class; for WER/CER, 1.0 (an empty transcript)."""
    levels = {}
    for task in tasks:
        for row in rows:
            tables = arm_tables(sweep_dir, row["arm"], task, seeds)
            if tables:
                table = next(iter(tables.values()))
                if "reference_class" in table:
                    levels[task] = float(np.bincount(table["reference_class"]).max() / len(table["reference_class"]))
                else:
                    levels[task] = 1.0
                break
    return levels
