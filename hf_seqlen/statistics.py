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

Test clips often come from few speakers (the large demo corpus: 576 keyword clips from 24 voices), and clips of
one voice succeed or fail together. Where every table names each example's speaker (`cluster`), the examples' share
is counted over speakers too: the examples x seeds table is summed into a speakers x seeds one with the same
means (`speaker_rows`), a cluster-robust variance with speakers - 1 degrees of freedom, and the wider of the two
intervals (speakers or clips as units) is kept. A table without the column, or of one speaker, is read as
before, each example its own unit.

One arm's seeds and a paired difference's arms are matched example by example (by id), and seed by seed for a
difference; tables that do not hold the same examples are refused. An outcome table holds one arm's test examples
for one seed: {"id"} and {"correct"} for accuracy, {"reference_class", "predicted_class"} for F1/UAR,
{"word_edits", "words"} and {"char_edits", "chars"} for WER and CER, and optionally {"cluster"}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RATIOS = {"accuracy": ("correct", None), "wer": ("word_edits", "words"), "cer": ("char_edits", "chars")}
CLASS_METRICS = ("f1", "uar")
METRICS = (*RATIOS, *CLASS_METRICS)
JACKKNIFE_BLOCK_CELLS = 1 << 20  # examples x classes of leave-one-out sums made at once: bounds memory (8 MiB)


@dataclass(frozen=True)
class Interval:
    """A point estimate (mean over seeds) with its 95% confidence interval, the seeds it rests on, and for a
    difference the two-sided p-value of "no difference"."""

    estimate: float
    low: float
    high: float
    seeds: int = 1
    p_value: float = float("nan")
    speakers: int = 0  # the speakers (clusters) the examples' share was counted over; 0: examples as units

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def _classes(metric: str, table: dict) -> np.ndarray | None:
    if metric in RATIOS:
        return None
    if metric not in CLASS_METRICS:
        raise ValueError(f"no per-example form for metric '{metric}' (known: {', '.join(METRICS)})")
    return np.union1d(table["reference_class"], table["predicted_class"])


def _shares(metric: str, table: dict, rows: slice, classes: np.ndarray | None) -> list[np.ndarray]:
    """What each example of `rows` adds to the sums the metric is made of: (errors or right answers, their
    denominator) for a ratio; (true positives, references, predictions) per class for F1 and UAR."""
    if classes is None:
        numerator, denominator = RATIOS[metric]
        top = table[numerator][rows].astype(float)
        return [top, table[denominator][rows].astype(float) if denominator else np.ones_like(top)]
    is_reference = (table["reference_class"][rows, None] == classes).astype(float)
    is_predicted = (table["predicted_class"][rows, None] == classes).astype(float)
    return [is_reference * is_predicted, is_reference, is_predicted]


def _from_sums(metric: str, sums: list[np.ndarray]) -> np.ndarray:
    """The metric of each row of summed shares."""
    if metric in RATIOS:
        top, total = sums
        return top / np.maximum(total, 1e-12)
    true_positives, references, predictions = sums
    if metric == "f1":  # over classes present in the weighted references or predictions
        present = (references + predictions) > 0
        scores = np.divide(2 * true_positives, references + predictions, out=np.zeros_like(references), where=present)
    else:  # uar: recall averaged over the classes present in the weighted references
        present = references > 0
        scores = np.divide(true_positives, references, out=np.zeros_like(references), where=present)
    return scores.sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def metric_values(metric: str, table: dict[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
    """The metric of one table under example weights (n,) or (rows, n): one value per weight row."""
    weights = np.atleast_2d(weights).astype(float)
    shares = _shares(metric, table, slice(None), _classes(metric, table))
    return _from_sums(metric, [weights @ share for share in shares])


def table_size(table: dict) -> int:
    return len(next(iter(table.values())))


def pseudo_values(metric: str, table: dict) -> np.ndarray:
    """Per-example jackknife pseudo-values, centred so that their mean is the table's metric: for accuracy
    they are the examples' own outcomes; for the other metrics, each example's share of the metric.

    Leaving one example out subtracts its shares from the whole table's sums, so a block of left-out metrics
    needs memory for its rows' shares only: O(n) in all, whatever the number of examples."""
    n = table_size(table)
    classes = _classes(metric, table)
    block_size = max(1, JACKKNIFE_BLOCK_CELLS // (1 if classes is None else len(classes)))
    blocks = [slice(start, start + block_size) for start in range(0, n, block_size)]
    block_sums = [[share.sum(axis=0) for share in _shares(metric, table, block, classes)] for block in blocks]
    total = [sum(parts) for parts in zip(*block_sums)]
    whole = float(_from_sums(metric, [np.reshape(sum_, (1, -1)) for sum_ in total]).ravel()[0])
    if n == 1:
        return np.array([whole])
    left_out = np.concatenate(
        [
            _from_sums(metric, [sum_ - share for sum_, share in zip(total, _shares(metric, table, block, classes))])
            for block in blocks
        ]
    )
    return whole + (n - 1) * (left_out.mean() - left_out)


def speaker_rows(values: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """An examples x seeds table made a speakers x seeds one whose grand and per-seed means are the same: each
    speaker's row is the sum of its examples' deviations from the grand mean, scaled by speakers / examples, plus
    that mean. Its rows' spread is the cluster-robust (linearised ratio) variance of the mean over speakers, so
    the two-way analysis below takes speakers as the units of the examples' share."""
    names, speaker = np.unique(clusters, return_inverse=True)
    centre = values.mean()
    totals = np.zeros((len(names), values.shape[1]))
    np.add.at(totals, speaker, values - centre)
    return centre + totals * len(names) / len(values)


def _mean_interval(values: np.ndarray, clusters: np.ndarray | None = None) -> Interval:
    """The grand mean of an examples x seeds table with its 95% CI from the two-way variance components; with
    each example's speaker (`clusters`), the wider of the intervals that take speakers and clips as the units of
    the examples' share. Speakers whose clips score alike (every voice says every keyword once, and an
    untrained probe answers one keyword) would otherwise make an interval narrower than its clips allow."""
    by_clip = _two_way_interval(values, math.inf)
    speakers = 0 if clusters is None else len(np.unique(clusters))
    if speakers < 2:  # one speaker has no spread to read: its clips are all there is
        return replace(by_clip, speakers=speakers)
    by_speaker = _two_way_interval(speaker_rows(values, clusters), speakers - 1)
    wider = by_speaker if by_speaker.high - by_speaker.low > by_clip.high - by_clip.low else by_clip
    return replace(wider, estimate=by_clip.estimate, speakers=speakers)


def _two_way_interval(values: np.ndarray, one_seed_df: float) -> Interval:
    """The interval of an (examples or speakers) x seeds table; with one seed, a t quantile of `one_seed_df`."""
    n, k = values.shape
    estimate = float(values.mean())
    if n < 2:
        raise ValueError("an interval needs at least 2 test examples")
    ms_examples = k * values.mean(axis=1).var(ddof=1)
    if k == 1:  # the seeds' share cannot be estimated: the interval covers the test examples only
        variance, df = ms_examples / n, one_seed_df
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


def _by_id(table: dict, order: np.ndarray) -> dict:
    return {name: column[order] for name, column in table.items()}


def _aligned(tables: list[dict], what: str) -> list[dict]:
    """The tables with rows in one example order, matched by id; tables must hold the same examples, each once.
    Tables built without ids (simulations) must already be in one order."""
    if not tables:
        raise ValueError("no outcome tables: at least one seed is needed")
    with_ids = sum("id" in table for table in tables)
    if with_ids == 0:
        sizes = {table_size(table) for table in tables}
        if len(sizes) != 1:
            raise ValueError(f"{what} scored different numbers of test examples ({sorted(sizes)})")
        return tables
    if with_ids < len(tables):
        raise ValueError(f"{what}: {len(tables) - with_ids} of {len(tables)} outcome tables have no example ids")
    first = np.sort(tables[0]["id"])
    for table in tables:
        ids = table["id"]
        if len(ids) != len(first) or len(np.unique(ids)) != len(ids) or not np.array_equal(np.sort(ids), first):
            only = sorted(set(ids) ^ set(first))[:3]
            raise ValueError(
                f"{what} need the same test examples (ids) in every outcome table, each once"
                + (f"; e.g. {', '.join(map(str, only))} is in one only" if only else "; an id is repeated")
            )
    return [_by_id(table, np.argsort(table["id"], kind="stable")) for table in tables]


def _clusters(tables: list[dict]) -> np.ndarray | None:
    """Each example's speaker where every table names it (rows already aligned), else None: clips as units."""
    if not all("cluster" in table for table in tables):
        return None
    clusters = tables[0]["cluster"]
    for table in tables[1:]:
        if not np.array_equal(table["cluster"], clusters):
            row = int(np.flatnonzero(table["cluster"] != clusters)[0])
            name = table["id"][row] if "id" in table else f"row {row}"
            raise ValueError(
                f"test example {name} has speaker '{clusters[row]}' in one outcome table and "
                f"'{table['cluster'][row]}' in another: compare outcomes of one test split only"
            )
    return clusters


def interval(metric: str, tables: list[dict]) -> Interval:
    """One arm's metric: mean over seeds (one table each, matched by example id), 95% CI over test examples (or
    their speakers) and seeds."""
    tables = _aligned(tables, "one arm's seeds")
    return _mean_interval(np.stack([pseudo_values(metric, t) for t in tables], axis=1), _clusters(tables))


def paired_difference(metric: str, tables: list[dict], reference: list[dict]) -> Interval:
    """Arm minus reference, paired on examples (by id) and seeds (table i of both lists is the same seed)."""
    if len(tables) != len(reference):
        raise ValueError(
            f"a paired difference needs the same seeds in both arms ({len(tables)} and {len(reference)} tables)"
        )
    both = _aligned(tables + reference, "both arms of a paired difference")
    tables, reference = both[: len(tables)], both[len(tables) :]
    difference = np.stack(
        [pseudo_values(metric, own) - pseudo_values(metric, other) for own, other in zip(tables, reference)], axis=1
    )
    return _mean_interval(difference, _clusters(both))


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
    for name in ("id", "cluster"):
        if examples and name in examples[0]:
            table[name] = np.array([str(e[name]) for e in examples])
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
