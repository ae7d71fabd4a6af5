"""Recommend a pre-training length for a downstream dataset: match its typical length, and where
a sweep report exists, weigh that against the measured trade-off.

    hf-seqlen recommend --data_dir my_task_audio --report study/report.csv --task kws
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..corpus.sources import load_audio_split, with_durations
from ..option_parsing import UsageError, parse_dataclasses
from ..statistics import paired_difference
from .figures import label
from .report import arm_tables, cost_column, lower_is_better, state

# The task metric the recommendation weighs, in order of preference.
WEIGHED_METRICS = ("accuracy", "wer", "f1", "uar", "cer")


@dataclass
class RecommendArguments:
    data_dir: str | None = field(default=None, metadata={"help": "The task's audio folder (default: demo corpus)."})
    dataset_name: str | None = field(default=None, metadata={"help": "Or a Hub dataset."})
    dataset_config_name: str | None = field(default=None)
    split: str = field(default="train", metadata={"help": "Split whose durations are read."})
    audio_column_name: str = field(default="audio")
    report: str | None = field(default=None, metadata={"help": "A sweep's report.csv, to weigh measured results."})
    task: str | None = field(default=None, metadata={"help": "The report's task to weigh (kws, asr, ...)."})
    tolerance: float = field(
        default=1.0,
        metadata={
            "help": "How much worse than the best arm you accept for a cheaper one, in points (1.0 = one accuracy "
            "point, or 0.01 of WER/CER)."
        },
    )
    output_json: str | None = field(default=None, metadata={"help": "Also write the recommendation as JSON here."})
    candidates: list[float] = field(
        default_factory=lambda: [1.0, 2.0, 4.0, 8.0, 16.0],
        metadata={"help": "Pre-training lengths to choose from without a report."},
    )


def duration_profile(args: RecommendArguments) -> dict:
    dataset = with_durations(
        load_audio_split(
            args.split,
            dataset_name=args.dataset_name,
            dataset_config_name=args.dataset_config_name,
            data_dir=args.data_dir,
            audio_column=args.audio_column_name,
        )
    )
    durations = np.array([d for d, bad in zip(dataset["duration"], dataset["bad_audio"]) if not bad])
    if len(durations) == 0:
        raise ValueError("no readable audio in that split")
    p10, median, p90 = np.percentile(durations, [10, 50, 90])
    return {
        "files": len(durations),
        "median": float(median),
        "p10": float(p10),
        "p90": float(p90),
        "mean": float(durations.mean()),
    }


def matched_length(median: float, candidates: list[float]) -> float:
    """The candidate closest to the task's typical length, on a log scale (1 s vs 2 s is as far as 8 vs 16)."""
    return min(candidates, key=lambda c: abs(math.log(c / median)))


def read_report(path: Path) -> list[dict]:
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key, value in row.items():
            try:
                row[key] = float(value)
            except (TypeError, ValueError):
                pass
    return rows


def check_cells(report: Path, rows: list[dict], metric: str, cost: str, task: str) -> None:
    """Every arm needs a number in each column weighed: an empty cell is an arm whose jobs did not all finish."""
    for line, row in enumerate(rows, start=2):  # line 1 of the file is the header
        empty = next((c for c in (metric, cost, "max_duration") if not isinstance(row.get(c), float)), None)
        if empty:
            missing = f" (the arm has no {task} test results)" if empty == metric else ""
            raise UsageError(
                f"{report}, line {line}: the {empty} cell of arm {row['arm']} is empty{missing}, so the arms cannot "
                "be weighed. Run the same `hf-seqlen sweep` again: it finishes that arm's missing jobs and rewrites "
                "the report (or run it without that arm, to report the others)."
            )


def weigh_report(report: Path, task: str, tolerance: float) -> dict | None:
    """The cheapest arm shown, with 95% confidence, to be no worse than the best arm by more than
    `tolerance` (points of accuracy, or 0.01s of WER), and the arms the data cannot place either way."""
    rows = read_report(report)
    metric = next(
        (f"{task}_{m}" for m in WEIGHED_METRICS if any(isinstance(r.get(f"{task}_{m}"), float) for r in rows)), None
    )
    cost = cost_column(rows)
    if metric is None or cost is None:
        return None
    check_cells(report, rows, metric, cost, task)
    sign = 1 if lower_is_better(metric) else -1
    best = min(rows, key=lambda r: (sign * r[metric], r[cost]))
    seeds = sorted({int(p.name.removeprefix("seed-")) for p in report.parent.glob(f"{best['arm']}/seed-*")})
    best_tables = arm_tables(report.parent, best["arm"], task, seeds)
    margin = tolerance / 100
    verdicts = {}
    for row in rows:
        tables = arm_tables(report.parent, row["arm"], task, seeds)
        common = [s for s in seeds if s in tables and s in best_tables]
        if not common:
            verdicts[row["arm"]] = "no per-example outcomes"
            continue
        # Worse-by, oriented so that positive means worse than the best arm.
        diff = paired_difference(metric.split("_", 1)[1], [tables[s] for s in common], [best_tables[s] for s in common])
        worst, least = (diff.high, diff.low) if sign == 1 else (-diff.low, -diff.high)
        verdicts[row["arm"]] = "within" if worst <= margin else "worse" if least > margin else "undecided"
    within = [r for r in rows if verdicts[r["arm"]] == "within"]
    chosen = min(within, key=lambda r: r[cost])
    undecided = [r for r in rows if verdicts[r["arm"]] == "undecided" and r[cost] < chosen[cost]]
    return {
        "metric": metric,
        "cost": cost,
        "best": best,
        "chosen": chosen,
        "undecided": undecided,
        "verdicts": verdicts,
    }


def recommend(args: RecommendArguments) -> dict:
    profile = duration_profile(args)
    matched = matched_length(profile["median"], args.candidates)
    reasons = [
        f"The task's audio: {profile['files']} files, median {profile['median']:.2f} s "
        f"(10% below {profile['p10']:.2f} s, 90% below {profile['p90']:.2f} s). The closest candidate length is "
        f"{matched:g} s."
    ]
    result = {"profile": profile, "matched_length": matched, "recommended_length": matched, "basis": "prior"}
    prior = (
        f"Suggestion {matched:g} s is the paper's prior (pre-train on crops matching the task's length), "
        "untested on your data: run `hf-seqlen sweep` and pass its report.csv with --report to test it."
    )
    if not args.report:
        reasons.append(prior)
    else:
        if not args.task:
            raise ValueError("--report needs --task, the report's task to weigh")
        weighed = weigh_report(Path(args.report), args.task, args.tolerance)
        if weighed is None:
            reasons.append(f"The report has no metric or cost for task '{args.task}'. " + prior)
        else:
            best, chosen, metric, cost = weighed["best"], weighed["chosen"], weighed["metric"], weighed["cost"]
            share = chosen[cost] / best[cost] if best[cost] else float("nan")
            reasons.append(
                f"Measured in the sweep: the best {metric} is {state(metric, best[metric])} ({best['arm']}); "
                + (
                    f"{chosen['arm']} is the cheapest arm shown with 95% confidence to be within {args.tolerance:g} "
                    f"points of it ({state(metric, chosen[metric])}), at {share:.0%} of its {label(cost)}."
                    if chosen is not best
                    else f"no cheaper arm is shown with 95% confidence to be within {args.tolerance:g} points of it."
                )
            )
            if weighed["undecided"]:
                names = ", ".join(r["arm"] for r in weighed["undecided"])
                reasons.append(
                    f"The data cannot decide for the cheaper {names}: the 95% CI of its difference from "
                    f"{best['arm']} straddles the {args.tolerance:g}-point tolerance. More seeds or test "
                    "examples would settle it."
                )
            result.update(
                recommended_length=chosen["max_duration"],
                basis="measured",
                measured={
                    "metric": metric,
                    "cost": cost,
                    "best_arm": best["arm"],
                    "chosen_arm": chosen["arm"],
                    "verdicts": weighed["verdicts"],
                    "undecided_arms": [r["arm"] for r in weighed["undecided"]],
                },
            )
    result["reasons"] = reasons
    return result


def parse_args(argv: list[str] | None = None) -> RecommendArguments:
    (args,) = parse_dataclasses(RecommendArguments, argv, prog="hf-seqlen recommend")
    return args


def print_recommendation(args: RecommendArguments) -> dict:
    """Recommend, print the suggestion and its reasons, and write them to --output_json if asked."""
    result = recommend(args)
    basis = "measured on your sweep" if result["basis"] == "measured" else "the paper's prior, untested on your data"
    print(f"Suggested pre-training length: {result['recommended_length']:g} s ({basis})")
    for reason in result["reasons"]:
        print(f"- {reason}")
    if args.output_json:
        Path(args.output_json).write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result
