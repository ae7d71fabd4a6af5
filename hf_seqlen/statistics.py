"""95% confidence intervals for the study, from per-example outcomes.

The unit of evidence is one test example scored by one arm trained with one seed. A bootstrap
replicate resamples both sources of chance at once:

- the test examples, with replacement; the same draw is used for every arm and every seed, so a
  comparison between arms is paired on the same examples;
- the seeds, with replacement; the same seed draw is used for both arms of a comparison (arm A and the
  reference with seed s share their pre-training and fine-tuning seed).

A replicate's metric is the mean over its drawn seeds of the corpus metric on its drawn examples
(accuracy, macro-F1, UAR, or WER/CER as edits summed over words summed, as the runs compute them).
The interval is the 2.5th to 97.5th percentile of the replicates (percentile bootstrap).

An outcome table holds one arm's test examples for one seed, in the same example order for every
table: {"correct"} for accuracy, {"reference_class", "predicted_class"} for F1/UAR,
{"word_edits", "words"} and {"char_edits", "chars"} for WER and CER.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
RATIOS = {"accuracy": ("correct", None), "wer": ("word_edits", "words"), "cer": ("char_edits", "chars")}
CLASS_METRICS = ("f1", "uar")
METRICS = (*RATIOS, *CLASS_METRICS)


@dataclass(frozen=True)
class Interval:
    """A point estimate (mean over seeds) with its 95% confidence interval."""

    estimate: float
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def metric_values(metric: str, table: dict[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
    """The metric of one table under example weights (n,) or (replicates, n): one value per weight row."""
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
    if metric == "f1":  # over classes present in the resampled references or predictions
        present = (references + predictions) > 0
        scores = np.divide(2 * true_positives, references + predictions, out=np.zeros_like(references), where=present)
    else:  # uar: recall averaged over the classes present in the resampled references
        present = references > 0
        scores = np.divide(true_positives, references, out=np.zeros_like(references), where=present)
    return scores.sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def _draws(num_examples: int, num_seeds: int, replicates: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    example_weights = rng.multinomial(num_examples, np.full(num_examples, 1 / num_examples), size=replicates)
    seed_draws = rng.integers(num_seeds, size=(replicates, num_seeds))
    return example_weights, seed_draws


def _replicates(metric: str, tables: list[dict], example_weights: np.ndarray, seed_draws: np.ndarray) -> np.ndarray:
    per_seed = np.stack([metric_values(metric, table, example_weights) for table in tables])  # (seeds, replicates)
    return per_seed[seed_draws, np.arange(len(seed_draws))[:, None]].mean(axis=1)


def _point(metric: str, tables: list[dict]) -> float:
    return float(np.mean([metric_values(metric, t, np.ones(table_size(t)))[0] for t in tables]))


def table_size(table: dict) -> int:
    return len(next(iter(table.values())))


def _interval(estimate: float, replicates: np.ndarray) -> Interval:
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high))


def _check(tables: list[dict]) -> int:
    if not tables:
        raise ValueError("no outcome tables: at least one seed is needed")
    sizes = {table_size(t) for t in tables}
    if len(sizes) != 1:
        raise ValueError(f"the seeds scored different numbers of test examples ({sorted(sizes)})")
    return sizes.pop()


def interval(metric: str, tables: list[dict], replicates: int = 2000, seed: int = 0) -> Interval:
    """One arm's metric: mean over seeds, 95% CI resampling examples and seeds."""
    weights, seed_draws = _draws(_check(tables), len(tables), replicates, seed)
    return _interval(_point(metric, tables), _replicates(metric, tables, weights, seed_draws))


def paired_difference(metric: str, tables: list[dict], reference: list[dict], replicates: int = 2000,
                      seed: int = 0) -> Interval:
    """Arm minus reference, paired on examples and seeds (table i of both lists is the same seed)."""
    if len(tables) != len(reference) or _check(tables) != _check(reference):
        raise ValueError("a paired difference needs the same seeds and the same test examples in both arms")
    weights, seed_draws = _draws(_check(tables), len(tables), replicates, seed)
    difference = (_replicates(metric, tables, weights, seed_draws)
                  - _replicates(metric, reference, weights, seed_draws))
    return _interval(_point(metric, tables) - _point(metric, reference), difference)


def outcome_table(examples: list[dict]) -> dict[str, np.ndarray]:
    """Per-example outcomes (rows of `<split>_examples.jsonl`) as the arrays the metrics read."""
    table = {name: np.array([e[name] for e in examples], dtype=float)
             for name in ("correct", "word_edits", "words", "char_edits", "chars") if examples and name in examples[0]}
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
    """One run's 95% CIs from its per-example outcomes, resampling the examples only: how far another test
    set of the same size could move each metric. One run has one seed, so the seed's own chance is not in them."""
    if not examples:
        return {}
    table = outcome_table(examples)
    found = {name: interval(name, [table]) for name in names}
    return {name: {"low": ci.low, "high": ci.high} for name, ci in found.items()}
