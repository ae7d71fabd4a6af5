"""The study's report: one row per arm (a duration or a schedule) with every measured cost and
every downstream metric, as CSV and Markdown, plots, and the headline trade-off in words.

Reads only what the runs wrote: `<arm>/pretrain/costs.json` and `<arm>/<task>/results.json`.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

# Metrics where lower is better; every other metric is taken as higher-is-better.
LOWER_IS_BETTER = ("wer", "cer", "loss")
# Cost columns to plot and compare, most informative first; the first present is "the cost".
COST_COLUMNS = ("flops_total_estimated_from_counted_steps", "device_hours", "wall_clock_seconds", "audio_hours",
                "energy_kwh_estimated")


def lower_is_better(metric: str) -> bool:
    return any(metric.endswith(suffix) for suffix in LOWER_IS_BETTER)


def _numbers(mapping: dict, prefix: str = "") -> dict:
    """Flatten nested numeric fields into `prefix` + `a_b` names."""
    flat = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_numbers(value, f"{name}_"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = value
    return flat


def _task_metrics(results: dict) -> dict:
    """A task's metrics on its test split, else its evaluation split: `accuracy`, `wer`, ..."""
    metrics = results.get("metrics", {})
    split = next((s for s in ("test", "eval", "validation") if s in metrics), None)
    chosen = metrics.get(split, {}) if split else {}
    return {k.removeprefix(f"{split}_").removeprefix("eval_"): v for k, v in _numbers(chosen).items()
            if not k.endswith(("runtime", "samples_per_second", "steps_per_second", "epoch"))}


def collect_rows(sweep_dir: Path, arms: list[dict], tasks: list[str]) -> list[dict]:
    """One row per arm that finished pre-training; a task column is empty if its run is missing."""
    rows = []
    for arm in arms:
        arm_dir = sweep_dir / arm["name"]
        costs_file = arm_dir / "pretrain" / "costs.json"
        if not costs_file.is_file():
            continue
        row = {"arm": arm["name"], "max_duration": arm["max_duration"], "schedule": arm.get("schedule", "")}
        row.update(_numbers(json.loads(costs_file.read_text())))
        for task in tasks:
            results_file = arm_dir / task / "results.json"
            if results_file.is_file():
                for metric, value in _task_metrics(json.loads(results_file.read_text())).items():
                    row[f"{task}_{metric}"] = value
        rows.append(row)
    return rows


def metric_columns(rows: list[dict], tasks: list[str]) -> list[str]:
    names = {k for row in rows for k in row if any(k.startswith(f"{t}_") for t in tasks)}
    return sorted(names)


def rate_columns(rows: list[dict], tasks: list[str]) -> list[str]:
    """Metrics that are rates in [0, 1] (accuracy, WER, ...), so differences read as points; not losses."""
    return [m for m in metric_columns(rows, tasks) if not m.endswith("loss")]


# The columns report.md shows (report.csv has them all).
SUMMARY_COLUMNS = ("arm", "max_duration", "schedule", *COST_COLUMNS, "peak_accelerator_memory_gib",
                   "peak_host_memory_gib", "longest_input_seconds", "optimizer_steps")


def cost_column(rows: list[dict]) -> str | None:
    return next((c for c in COST_COLUMNS if rows and all(c in r for r in rows)), None)


def pareto_front(rows: list[dict], cost: str, metric: str) -> list[dict]:
    """Arms no other arm beats on both cost and the metric."""
    sign = 1 if lower_is_better(metric) else -1
    points = [r for r in rows if metric in r and cost in r]
    return [
        r for r in points
        if not any(o[cost] <= r[cost] and sign * o[metric] <= sign * r[metric]
                   and (o[cost] < r[cost] or o[metric] != r[metric]) for o in points)
    ]


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_csv(rows: list[dict], path: Path) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def headline(rows: list[dict], tasks: list[str]) -> list[str]:
    """Each shorter arm against the longest fixed-duration arm: share of cost, change in each metric."""
    cost = cost_column(rows)
    fixed = [r for r in rows if not r["schedule"]]
    if not cost or len(rows) < 2 or not fixed:
        return []
    reference = max(fixed, key=lambda r: r["max_duration"])
    lines = []
    for row in rows:
        if row is reference:
            continue
        share = row[cost] / reference[cost] if reference[cost] else math.nan
        changes = []
        for metric in rate_columns([row, reference], tasks):
            if metric in row and metric in reference:
                delta = (row[metric] - reference[metric]) * 100
                changes.append(f"{metric} {_format(row[metric])} vs {_format(reference[metric])} ({delta:+.1f} points)")
        lines.append(
            f"{row['arm']} costs {share:.0%} of {reference['arm']} in {cost}"
            + (f"; {'; '.join(changes)}" if changes else "")
            + "."
        )
    return lines


def write_markdown(rows: list[dict], tasks: list[str], plots: list[Path], path: Path) -> None:
    present = {k for row in rows for k in row}
    columns = [c for c in SUMMARY_COLUMNS if c in present] + rate_columns(rows, tasks)
    lines = ["# Sequence-length study", ""]
    summary = headline(rows, tasks)
    if summary:
        lines += ["## Headline", "", *[f"- {line}" for line in summary], ""]
    lines += ["## Results (all measured; every figure in report.csv)", "", "| " + " | ".join(columns) + " |",
              "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_format(row.get(c, "")) for c in columns) + " |" for row in rows]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    path.write_text("\n".join(lines) + "\n")


def _scatter(ax, rows, x, y, label_with_arm=True):
    ax.plot([r[x] for r in rows], [r[y] for r in rows], "o")
    if label_with_arm:
        for r in rows:
            ax.annotate(r["arm"], (r[x], r[y]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(x)
    ax.set_ylabel(y)


def write_plots(rows: list[dict], tasks: list[str], sweep_dir: Path) -> list[Path]:
    fixed = sorted((r for r in rows if not r["schedule"]), key=lambda r: r["max_duration"])
    written = []

    def save(fig, name):
        path = sweep_dir / name
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)

    costs = [c for c in COST_COLUMNS if fixed and all(c in r for r in fixed)]
    if costs:
        fig, axes = plt.subplots(1, len(costs), figsize=(4 * len(costs), 3.2), squeeze=False)
        for ax, c in zip(axes[0], costs):
            ax.plot([r["max_duration"] for r in fixed], [r[c] for r in fixed], "o-")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("max_duration (s)")
            ax.set_ylabel(c)
        save(fig, "cost_vs_duration.png")
    cost = cost_column(rows)
    for metric in metric_columns(rows, tasks):
        having = [r for r in fixed if metric in r]
        if having:
            fig, ax = plt.subplots(figsize=(4.5, 3.2))
            ax.plot([r["max_duration"] for r in having], [r[metric] for r in having], "o-")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("max_duration (s)")
            ax.set_ylabel(metric)
            save(fig, f"{metric}_vs_duration.png")
        if cost:
            points = [r for r in rows if metric in r]
            if points:
                fig, ax = plt.subplots(figsize=(4.5, 3.2))
                _scatter(ax, points, cost, metric)
                front = sorted(pareto_front(points, cost, metric), key=lambda r: r[cost])
                ax.plot([r[cost] for r in front], [r[metric] for r in front], "r--o", mfc="none", ms=11,
                        label="Pareto front")
                ax.legend(fontsize=7)
                save(fig, f"{metric}_vs_{cost}.png")
    return written


def write_report(sweep_dir: Path, arms: list[dict], tasks: list[str]) -> list[dict]:
    rows = collect_rows(sweep_dir, arms, tasks)
    if not rows:
        return rows
    write_csv(rows, sweep_dir / "report.csv")
    plots = write_plots(rows, tasks, sweep_dir)
    write_markdown(rows, tasks, plots, sweep_dir / "report.md")
    return rows
