"""95% confidence intervals for the study, from per-example outcomes.

The unit of evidence is one test example scored by one arm pre-trained and probed with one seed. Two
sources of chance move a study's figure: which test examples were drawn, and which seeds (the seed is
the unit of replication: with 2-5 of them, their spread is known only roughly). Both are in the interval:

- each seed's metric is written as a mean over its examples of jackknife pseudo-values (exact for
  accuracy, a linearisation for WER/CER as edits summed over words summed, macro-F1 and UAR), giving an
  examples x seeds table for an arm, or for an arm minus the reference when paired;
- the variance of its grand mean is read off a two-way (examples x seeds) analysis of variance, as
  variance components: examples / n + seeds / k + their interaction / (n k);
- the interval is the estimate +- a t quantile whose degrees of freedom come from the Welch-Satterthwaite
  formula: about k - 1 when the seeds' spread dominates, many when the examples' does.

A percentile bootstrap over 2-3 seeds is far too narrow (it reads the seeds' spread as if it were known
and shrinks it by sqrt((k - 1) / k)); docs/measurements/interval-coverage.md gives the coverage each
method measured. With one seed the interval covers the test examples only, and says so (`seeds == 1`).

A paired difference matches the two arms example by example (by id) and seed by seed. An outcome table
holds one arm's test examples for one seed: {"id"} and {"correct"} for accuracy, {"reference_class",
"predicted_class"} for F1/UAR, {"word_edits", "words"} and {"char_edits", "chars"} for WER and CER.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RATIOS = {"accuracy": ("correct", None), "wer": ("word_edits", "words"), "cer": ("char_edits", "chars")}
CLASS_METRICS = ("f1", "uar")
METRICS = (*RATIOS, *CLASS_METRICS)
JACKKNIFE_BLOCK = 1024  # rows of leave-one-out weights built at once: bounds memory on large test sets


@dataclass(frozen=True)
class Interval:
    """A point estimate (mean over seeds) with its 95% confidence interval, the seeds it rests on, and for a
    difference the two-sided p-value of "no difference"."""

    estimate: float
    low: float
    high: float
    seeds: int = 1
    p_value: float = float("nan")

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def metric_values(metric: str, table: dict[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
    """The metric of one table under example weights (n,) or (rows, n): one value per weight row."""
    weights = np.atleast_2d(weights).astype(float)
    if metric in RATIOS:
        numerator, denominator = RATIOS[metric]
        total = weights @ table[denominator] if denominator else weights.sum(axis=1)
        return (weights @ table[numerator]) / np.maximum(total, 1e-12)
    if metric not in CLASS_METRICS:
        raise ValueError(f"no per-example form for metric '{metric}' (known: {', '.join(METRICS)})")
    classes = np.union1d(table["reference_class"], table["predicted_class"])
    is_reference = (table["reference_class"][:, None] == classes).astype(float)
    is_predicted = (table["predicted_class"][:, None] == classes).astype(float)
    true_positives = weights @ (is_reference * is_predicted)
    references, predictions = weights @ is_reference, weights @ is_predicted
    if metric == "f1":  # over classes present in the weighted references or predictions
        present = (references + predictions) > 0
        scores = np.divide(2 * true_positives, references + predictions, out=np.zeros_like(references), where=present)
    else:  # uar: recall averaged over the classes present in the weighted references
        present = references > 0
        scores = np.divide(true_positives, references, out=np.zeros_like(references), where=present)
    return scores.sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def table_size(table: dict) -> int:
    return len(next(iter(table.values())))


def pseudo_values(metric: str, table: dict) -> np.ndarray:
    """Per-example jackknife pseudo-values, centred so that their mean is the table's metric: for accuracy
    they are the examples' own outcomes; for the other metrics, each example's share of the metric."""
    n = table_size(table)
    whole = metric_values(metric, table, np.ones(n))[0]
    if n == 1:
        return np.array([whole])
    left_out = np.concatenate(
        [
            metric_values(metric, table, 1 - np.eye(n)[start : start + JACKKNIFE_BLOCK])
            for start in range(0, n, JACKKNIFE_BLOCK)
        ]
    )
    return whole + (n - 1) * (left_out.mean() - left_out)


def _mean_interval(values: np.ndarray) -> Interval:
    """The grand mean of an examples x seeds table with its 95% CI from the two-way variance components."""
    n, k = values.shape
    estimate = float(values.mean())
    if n < 2:
        raise ValueError("an interval needs at least 2 test examples")
    ms_examples = k * values.mean(axis=1).var(ddof=1)
    if k == 1:  # the seeds' share cannot be estimated: the interval covers the test examples only
        variance, df = ms_examples / n, math.inf
    else:
        ms_seeds = n * values.mean(axis=0).var(ddof=1)
        residual = values - values.mean(axis=1, keepdims=True) - values.mean(axis=0, keepdims=True) + estimate
        ms_residual = float((residual**2).sum()) / ((n - 1) * (k - 1))
        # Variance of the mean: seeds' spread of their means (which holds the seeds' share and the interaction's)
        # plus the examples' share, (ms_examples - ms_residual) / nk, floored at zero. The seeds' term is never
        # floored: with 2-3 seeds it is the noisy one, and flooring it is what makes intervals too narrow.
        terms = [(ms_seeds, k - 1, 1.0)]
        if ms_examples > ms_residual:
            terms += [(ms_examples, n - 1, 1.0), (ms_residual, (n - 1) * (k - 1), -1.0)]
        variance = sum(sign * ms for ms, _, sign in terms) / (n * k)
        spread = sum((ms / (n * k)) ** 2 / dof for ms, dof, _ in terms)
        # Welch-Satterthwaite; its negative term can push it below what the seeds alone give, never meant here.
        df = max(variance**2 / spread, k - 1) if spread > 0 else math.inf
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, df) * math.sqrt(variance)
    if variance > 0:
        p_value = float(2 * stats.t.sf(abs(estimate) / math.sqrt(variance), df))
    else:
        p_value = 1.0 if estimate == 0 else 0.0
    return Interval(estimate, estimate - half, estimate + half, k, p_value)


def _check(tables: list[dict]) -> int:
    if not tables:
        raise ValueError("no outcome tables: at least one seed is needed")
    sizes = {table_size(t) for t in tables}
    if len(sizes) != 1:
        raise ValueError(f"the seeds scored different numbers of test examples ({sorted(sizes)})")
    return sizes.pop()


def interval(metric: str, tables: list[dict]) -> Interval:
    """One arm's metric: mean over seeds (one table each), 95% CI over test examples and seeds."""
    _check(tables)
    return _mean_interval(np.stack([pseudo_values(metric, t) for t in tables], axis=1))


def _by_id(table: dict, order: np.ndarray) -> dict:
    return {name: column[order] for name, column in table.items()}


def _paired(tables: list[dict], reference: list[dict]) -> tuple[list[dict], list[dict]]:
    """Both arms' tables with rows in one example order, matched by id; a mismatch is refused."""
    if len(tables) != len(reference):
        raise ValueError(
            f"a paired difference needs the same seeds in both arms ({len(tables)} and {len(reference)} tables)"
        )
    _check(tables)
    _check(reference)
    if "id" not in tables[0]:  # tables built without ids (simulations): rows are already in one order
        if table_size(tables[0]) != table_size(reference[0]):
            raise ValueError("a paired difference needs the same test examples in both arms")
        return tables, reference
    paired = ([], [])
    for own, other in zip(tables, reference):
        if sorted(own["id"]) != sorted(other["id"]) or len(set(own["id"])) != len(own["id"]):
            only = sorted(set(own["id"]) ^ set(other["id"]))[:3]
            raise ValueError(
                "a paired difference needs the same test examples (ids) in both arms and seeds, each once"
                + (f"; e.g. {', '.join(map(str, only))} is in one only" if only else "")
            )
        paired[0].append(_by_id(own, np.argsort(own["id"], kind="stable")))
        paired[1].append(_by_id(other, np.argsort(other["id"], kind="stable")))
    return paired


def paired_difference(metric: str, tables: list[dict], reference: list[dict]) -> Interval:
    """Arm minus reference, paired on examples (by id) and seeds (table i of both lists is the same seed)."""
    tables, reference = _paired(tables, reference)
    difference = np.stack(
        [pseudo_values(metric, own) - pseudo_values(metric, other) for own, other in zip(tables, reference)], axis=1
    )
    return _mean_interval(difference)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: a comparison is significant at 5% across the family when its adjusted
    p-value is below 0.05."""
    order = np.argsort(p_values)
    adjusted, running = np.empty(len(p_values)), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def outcome_table(examples: list[dict]) -> dict[str, np.ndarray]:
    """Per-example outcomes (rows of `<split>_examples.jsonl`) as the arrays the metrics read."""
    table = {
        name: np.array([e[name] for e in examples], dtype=float)
        for name in ("correct", "word_edits", "words", "char_edits", "chars")
        if examples and name in examples[0]
    }
    if examples and "id" in examples[0]:
        table["id"] = np.array([str(e["id"]) for e in examples])
    if examples and "correct" in examples[0]:
        names = sorted({str(e["reference"]) for e in examples} | {str(e["prediction"]) for e in examples})
        index = {name: i for i, name in enumerate(names)}
        table["reference_class"] = np.array([index[str(e["reference"])] for e in examples])
        table["predicted_class"] = np.array([index[str(e["prediction"])] for e in examples])
    return table


def metrics_of(examples: list[dict], names: tuple[str, ...]) -> dict[str, float]:
    """Corpus metrics of one run from its per-example outcomes."""
    table = outcome_table(examples)
    return {name: float(metric_values(name, table, np.ones(len(examples)))[0]) for name in names}


def intervals_of(examples: list[dict], names: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """One run's 95% CIs from its per-example outcomes, over the examples only: how far another test
    set of the same size could move each metric. One run has one seed, so the seed's own chance is not in them."""
    if not examples:
        return {}
    table = outcome_table(examples)
    found = {name: interval(name, [table]) for name in names}
    return {name: {"low": ci.low, "high": ci.high} for name, ci in found.items()}
