"""The time-to-quality frontier's comparisons, from per-example outcome tables, with hf_seqlen.statistics' intervals.

Every comparison is a weighted sum of arms scored test clip by test clip and seed by seed. An accuracy contrast is a
mean of per-clip values, so statistics' interval over test clips and seeds applies to it as it does to one arm:
- keeps at least 75% of the example's gain over an untrained upstream: arm - untrained >= 0.75 (example -
  untrained), that is arm - 0.75 example - 0.25 untrained >= 0, met when that contrast's interval lies above 0;
- how the gap from the example moves with the budget: (arm - example) at the largest budget minus the same at the
  smallest, paired on test clips and seed numbers.
"""

from __future__ import annotations

import numpy as np

from hf_seqlen.statistics import Interval, interval

KEPT_GAIN = 0.75  # the share of the example's gain over untrained an arm must keep to be called non-inferior


def _aligned(table: dict, ids: np.ndarray | None) -> np.ndarray:
    """`table`'s outcomes in the order of `ids` (tables without ids are taken to be in one order already)."""
    if ids is None or "id" not in table:
        return table["correct"]
    rows = {example: row for row, example in enumerate(table["id"])}
    if len(rows) != len(ids) or any(example not in rows for example in ids):
        raise ValueError("a contrast needs the same test examples (ids) in every arm and seed, each once")
    return table["correct"][[rows[example] for example in ids]]


def contrast(terms: list[tuple[float, list[dict]]]) -> Interval:
    """sum(weight x arm) for (weight, one outcome table per seed) terms, the seeds in one order in every term: its
    estimate and 95% interval over test clips and seeds. The first term's tables give the row order and whatever
    else statistics reads beside the outcomes."""
    seeds = {len(tables) for _, tables in terms}
    if len(seeds) != 1:
        raise ValueError(f"a contrast needs the same seeds in every arm (got {sorted(seeds)} tables)")
    combined = []
    for seed in range(seeds.pop()):
        first = terms[0][1][seed]
        ids = first.get("id")
        combined.append({**first, "correct": sum(weight * _aligned(tables[seed], ids) for weight, tables in terms)})
    return interval("accuracy", combined)


def keeps_gain(arm: list[dict], example: list[dict], untrained: list[dict], share: float = KEPT_GAIN) -> Interval:
    """arm - untrained - share x (example - untrained): above 0 where the arm keeps `share` of the example's gain."""
    return contrast([(1.0, arm), (-share, example), (share - 1.0, untrained)])


def gap_change(small: tuple[list[dict], list[dict]], large: tuple[list[dict], list[dict]]) -> Interval:
    """(arm - example) at the large budget minus (arm - example) at the small one; each pair is (arm, example)."""
    return contrast([(1.0, large[0]), (-1.0, large[1]), (-1.0, small[0]), (1.0, small[1])])


def gain_share(arm: float, example: float, untrained: float) -> float | None:
    """The share of the example's gain over untrained the arm keeps (None where the example gained nothing)."""
    gain = example - untrained
    return (arm - untrained) / gain if gain > 0 else None


def standing(difference: dict) -> str:
    """Where an arm stands against the example, by the interval of their difference."""
    if difference["low"] > 0:
        return "ahead"
    if difference["high"] < 0:
        return "behind"
    return "level"


def trend(first_gap: float, change: dict) -> str:
    """How the gap moves from the smallest budget to the largest: towards zero ("narrows"), away from it ("widens"),
    or by no more than its interval can tell from nothing ("holds")."""
    if change["low"] <= 0 <= change["high"]:
        return "holds"
    moves_up = change["low"] > 0
    return "widens" if moves_up == (first_gap >= 0) else "narrows"
