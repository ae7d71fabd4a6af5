"""The study's figures: one per task (metric against pre-training compute with 95% CIs), one of costs
against crop length, and a one-page summary (cost share and paired differences) for the report's top."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from ..downstream.task_table import TASKS  # noqa: E402

# Field name -> (words with units, scale that turns the field into those units).
LABELS = {
    "flops_total_estimated_from_counted_steps": ("pre-training compute (TFLOP, counted)", 1e-12),
    "device_hours": ("device time (hours)", 1.0),
    "wall_clock_seconds": ("wall-clock time (minutes)", 1 / 60),
    "audio_hours": ("audio seen in pre-training (hours)", 1.0),
    "energy_kwh_estimated": ("energy (kWh, estimated)", 1.0),
    "accuracy": ("test accuracy (%)", 100.0),
    "f1": ("test macro-F1 (%)", 100.0),
    "uar": ("test unweighted average recall (%)", 100.0),
    "wer": ("test word error rate", 1.0),
    "cer": ("test character error rate", 1.0),
}
MAIN_METRICS = ("accuracy", "wer", "uar", "f1", "cer")


def task_title(task: str, fallback: str | None = None) -> str:
    return TASKS[task].title if task in TASKS else fallback or task


def label(field: str | None) -> str:
    return LABELS.get(field, (str(field), 1.0))[0]


def scale(field: str) -> float:
    return LABELS.get(field.split("_", 1)[-1] if field not in LABELS else field, (field, 1.0))[1]


def main_metric(task: str, metrics: list[str]) -> str | None:
    return next((f"{task}_{m}" for m in MAIN_METRICS if f"{task}_{m}" in metrics), None)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _task_figure(rows, reference, task, metric, *, cost: str, chance: float | None, path: Path) -> Path:
    k = scale(metric)
    fig, ax = plt.subplots(figsize=(6, 4))
    for row in rows:
        if metric not in row:
            continue
        x, y = row[cost] * scale(cost), row[metric] * k
        error = [[y - row[f"{metric}_ci_low"] * k], [row[f"{metric}_ci_high"] * k - y]]
        is_reference = row is reference
        ax.errorbar(
            [x],
            [y],
            yerr=error,
            fmt="s" if is_reference else "o",
            capsize=4,
            ms=8,
            color="tab:red" if is_reference else "tab:blue",
        )
        ax.annotate(
            row["arm"] + (" (reference)" if is_reference else ""),
            (x, y),
            xytext=(6, 4),
            textcoords="offset points",
            fontsize=10,
        )
    if chance is not None:
        words = "empty transcript" if metric.endswith(("wer", "cer")) else "commonest class"
        ax.axhline(chance * k, color="grey", ls="--", lw=1)
        # Below the line (arm labels sit above their points, which may lie on it), with room for it.
        low, high = ax.get_ylim()
        ax.set_ylim(min(low, chance * k - 0.1 * (high - low)), high)
        ax.annotate(
            f"chance ({words})",
            (0.01, chance * k),
            xycoords=("axes fraction", "data"),
            fontsize=9,
            color="grey",
            xytext=(0, -4),
            textcoords="offset points",
            va="top",
        )
    ax.set_xlabel(label(cost), fontsize=11)
    ax.set_ylabel(label(metric.split("_", 1)[1]), fontsize=11)
    ax.set_title(f"{task_title(task)}: mean over seeds, 95% CI", fontsize=11)
    ax.ticklabel_format(axis="x", style="plain", useOffset=False)
    ax.margins(x=0.25)
    return _save(fig, path)


def _cost_figure(rows, path: Path) -> Path | None:
    fixed = sorted((r for r in rows if not r["schedule"]), key=lambda r: r["max_duration"])
    shown = [
        c
        for c in LABELS
        if c in ("flops_total_estimated_from_counted_steps", "wall_clock_seconds", "audio_hours", "device_hours")
        and fixed
        and all(c in r for r in fixed)
    ]
    if not shown:
        return None
    grid_columns = min(len(shown), 2)
    grid_rows = -(-len(shown) // grid_columns)
    fig, axes = plt.subplots(grid_rows, grid_columns, figsize=(4.6 * grid_columns, 3.2 * grid_rows), squeeze=False)
    for ax, cost in zip(axes.flat, shown):
        ax.plot([r["max_duration"] for r in fixed], [r[cost] * scale(cost) for r in fixed], "o-")
        ax.set_xscale("log", base=2)
        ax.set_xticks([r["max_duration"] for r in fixed], [f"{r['max_duration']:g}" for r in fixed])
        ax.set_xlabel("pre-training crop length (s)")
        ax.set_ylabel(label(cost))
        ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    fig.suptitle("Pre-training cost per arm (mean over seeds)", fontsize=11)
    return _save(fig, path)


def _summary_figure(rows, reference, tasks, metrics, path: Path) -> Path:
    shown = [m for m in (main_metric(t, metrics) for t in tasks) if m]
    fig, axes = plt.subplots(1, 1 + len(shown), figsize=(4.2 * (1 + len(shown)), 3.6), squeeze=False)
    names = [r["arm"] for r in rows]
    ax = axes[0][0]
    ax.barh(range(len(rows)), [r.get("cost_ratio_vs_reference", 0) for r in rows], color="tab:gray")
    ax.set_yticks(range(len(rows)), names)
    ax.axvline(1.0, color="tab:red", lw=1)
    ax.set_xlabel(f"pre-training cost, share of {reference['arm']}")
    ax.set_title("cost", fontsize=11)
    for ax, metric in zip(axes[0][1:], shown):
        k = scale(metric)
        for i, row in enumerate(rows):
            if f"{metric}_diff_vs_reference" in row:
                d = row[f"{metric}_diff_vs_reference"] * k
                ax.errorbar(
                    [d],
                    [i],
                    xerr=[[d - row[f"{metric}_diff_ci_low"] * k], [row[f"{metric}_diff_ci_high"] * k - d]],
                    fmt="o",
                    capsize=4,
                )
        ax.axvline(0, color="tab:red", lw=1)
        ax.set_yticks(range(len(rows)), names)
        unit = " (points)" if k == 100 else ""
        ax.set_xlabel(f"{label(metric.split('_', 1)[1]).split(' (')[0]} minus {reference['arm']}{unit}")
        ax.set_title(f"{task_title(metric.split('_')[0], metric)}: difference, 95% CI", fontsize=11)
    return _save(fig, path)


def write_figures(
    rows, reference, tasks, *, metrics: list[str], cost: str | None, chance_levels: dict[str, float], folder: Path
) -> list[Path]:
    """At most 2 + len(tasks) PNG files in `folder`; their paths, the summary first."""
    written = [_summary_figure(rows, reference, tasks, metrics, folder / "summary.png")]
    for task in tasks:
        metric = main_metric(task, metrics)
        if metric and cost:
            path = folder / f"{task}.png"
            written.append(
                _task_figure(rows, reference, task, metric, cost=cost, chance=chance_levels.get(task), path=path)
            )
    cost_figure = _cost_figure(rows, folder / "costs.png")
    return written + [cost_figure] if cost_figure else written
