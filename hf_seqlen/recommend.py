"""Recommend a pre-training length for a downstream dataset: match its typical length, and where
a sweep report exists, weigh that against the measured trade-off.

    hf-seqlen recommend --data_dir my_task_audio --report study/report.csv --task kws
"""

from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import load_audio_split, with_durations
from .options import parse_dataclasses
from .report import cost_column, lower_is_better

# The task metric the recommendation weighs, in order of preference.
MAIN_METRICS = ("accuracy", "wer", "f1", "uar", "cer")


@dataclass
class RecommendArguments:
    data_dir: str | None = field(default=None, metadata={"help": "The task's audio folder (default: demo corpus)."})
    dataset_name: str | None = field(default=None, metadata={"help": "Or a Hub dataset."})
    dataset_config_name: str | None = field(default=None)
    split: str = field(default="train", metadata={"help": "Split whose durations are read."})
    audio_column_name: str = field(default="audio")
    report: str | None = field(default=None, metadata={"help": "A sweep's report.csv, to weigh measured results."})
    task: str | None = field(default=None, metadata={"help": "The report's task to weigh (kws, asr, ...)."})
    tolerance_points: float = field(default=1.0, metadata={"help": "Metric points you would trade for cost."})
    output_json: str | None = field(default=None, metadata={"help": "Also write the recommendation as JSON here."})
    candidates: list[float] = field(default_factory=lambda: [1.0, 2.0, 4.0, 8.0, 16.0],
                                    metadata={"help": "Pre-training lengths to choose from without a report."})


def duration_profile(args: RecommendArguments) -> dict:
    dataset = with_durations(load_audio_split(
        args.split, dataset_name=args.dataset_name, dataset_config_name=args.dataset_config_name,
        data_dir=args.data_dir, audio_column=args.audio_column_name))
    durations = np.array([d for d, bad in zip(dataset["duration"], dataset["bad_audio"]) if not bad])
    if len(durations) == 0:
        raise ValueError("no readable audio in that split")
    p10, median, p90 = np.percentile(durations, [10, 50, 90])
    return {"files": len(durations), "median": float(median), "p10": float(p10), "p90": float(p90),
            "mean": float(durations.mean())}


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


def weigh_report(rows: list[dict], task: str, tolerance_points: float) -> dict | None:
    """The cheapest arm within `tolerance_points` of the best arm on the task's main metric."""
    metric = next((f"{task}_{m}" for m in MAIN_METRICS if rows and isinstance(rows[0].get(f"{task}_{m}"), float)), None)
    cost = cost_column(rows)
    if metric is None or cost is None:
        return None
    sign = 1 if lower_is_better(metric) else -1
    best = min(rows, key=lambda r: sign * r[metric])
    good_enough = [r for r in rows if sign * (r[metric] - best[metric]) * 100 <= tolerance_points + 1e-9]
    chosen = min(good_enough, key=lambda r: r[cost])
    return {"metric": metric, "cost": cost, "best": best, "chosen": chosen}


def recommend(args: RecommendArguments) -> dict:
    profile = duration_profile(args)
    matched = matched_length(profile["median"], args.candidates)
    reasons = [
        f"The task's audio: {profile['files']} files, median {profile['median']:.2f} s "
        f"(10% below {profile['p10']:.2f} s, 90% below {profile['p90']:.2f} s). Pre-training on crops that "
        f"match this length works best; the closest candidate is {matched:g} s."
    ]
    result = {"profile": profile, "matched_length": matched, "recommended_length": matched}
    if args.report:
        if not args.task:
            raise ValueError("--report needs --task, the report's task to weigh")
        weighed = weigh_report(read_report(Path(args.report)), args.task, args.tolerance_points)
        if weighed is None:
            reasons.append(f"The report has no metric or cost for task '{args.task}'; recommending the matched length.")
        else:
            best, chosen, metric, cost = weighed["best"], weighed["chosen"], weighed["metric"], weighed["cost"]
            share = chosen[cost] / best[cost] if best[cost] else float("nan")
            reasons.append(
                f"Measured in the sweep: the best {metric} is {best[metric]:.4g} ({best['arm']}); "
                f"{chosen['arm']} reaches {chosen[metric]:.4g}, within {args.tolerance_points:g} points, "
                f"at {share:.0%} of that arm's {cost}."
            )
            result["recommended_length"] = chosen["max_duration"]
            result["measured"] = {"metric": metric, "cost": cost, "best_arm": best["arm"], "chosen_arm": chosen["arm"]}
    result["reasons"] = reasons
    return result


def main(argv: list[str] | None = None) -> int:
    from .cli import run_reporting_user_errors

    (args,) = parse_dataclasses(RecommendArguments, argv, prog="hf-seqlen recommend")

    def job():
        result = recommend(args)
        print(f"Recommended pre-training length: {result['recommended_length']:g} s")
        for reason in result["reasons"]:
            print(f"- {reason}")
        if args.output_json:
            Path(args.output_json).write_text(json.dumps(result, indent=2, default=str) + "\n")

    return run_reporting_user_errors(job)


if __name__ == "__main__":
    sys.exit(main())
