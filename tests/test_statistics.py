"""The study's statistics on synthetic per-example outcomes: fast and deterministic (fixed seeds)."""

import numpy as np
import pytest

from hf_seqlen.statistics import interval, intervals_of, metric_values, paired_difference


def accuracy_tables(rng, difficulty, shift, seeds):
    """One table per seed: example i is right with probability difficulty[i] + shift."""
    return [{"correct": (rng.random(len(difficulty)) < np.clip(difficulty + shift, 0, 1)).astype(float)}
            for _ in range(seeds)]


def test_identical_arms_give_an_interval_that_covers_zero():
    rng = np.random.default_rng(0)
    tables = accuracy_tables(rng, rng.uniform(0.2, 0.8, 300), 0.0, 3)
    difference = paired_difference("accuracy", tables, tables)
    assert difference.estimate == 0 and difference.low == 0 and difference.high == 0
    alike = paired_difference("accuracy", tables, accuracy_tables(rng, rng.uniform(0.2, 0.8, 300), 0.0, 3))
    assert alike.low < 0 < alike.high


@pytest.mark.parametrize("shift", [0.15, -0.15])
def test_a_known_shift_is_detected_with_its_sign(shift):
    rng = np.random.default_rng(1)
    difficulty = rng.uniform(0.3, 0.7, 400)
    better = accuracy_tables(rng, difficulty, shift, 3)
    reference = accuracy_tables(rng, difficulty, 0.0, 3)
    difference = paired_difference("accuracy", better, reference)
    assert difference.excludes_zero() and np.sign(difference.estimate) == np.sign(shift)
    assert difference.low < shift < difference.high


def test_intervals_cover_the_true_difference_about_95_percent_of_the_time():
    # 200 simulated studies (200 examples, 3 seeds, true accuracy difference 0.05). Coverage of a
    # nominal 95% interval is binomial with SE ~1.5 points here; accept 0.90 to 0.99.
    rng = np.random.default_rng(2)
    covered = 0
    for _ in range(200):
        difficulty = rng.uniform(0.3, 0.6, 200)
        difference = paired_difference("accuracy", accuracy_tables(rng, difficulty, 0.05, 3),
                                       accuracy_tables(rng, difficulty, 0.0, 3), replicates=500)
        covered += difference.low <= 0.05 <= difference.high
    assert 0.90 <= covered / 200 <= 0.99


def test_error_rates_sum_edits_over_the_corpus_like_jiwer():
    table = {"word_edits": np.array([1.0, 0.0, 3.0]), "words": np.array([2.0, 5.0, 3.0])}
    assert metric_values("wer", table, np.ones(3))[0] == pytest.approx(4 / 10)
    # A lower error rate is a negative difference.
    worse = {"word_edits": table["word_edits"] + 1, "words": table["words"]}
    assert paired_difference("wer", [table], [worse], replicates=200).estimate == pytest.approx(-0.3)


def test_macro_f1_and_uar_match_their_definitions():
    table = {"reference_class": np.array([0, 0, 1, 1, 2]), "predicted_class": np.array([0, 1, 1, 1, 0])}
    f1 = np.mean([2 * 1 / (2 + 2), 2 * 2 / (2 + 3), 0.0])
    assert metric_values("f1", table, np.ones(5))[0] == pytest.approx(f1)
    assert metric_values("uar", table, np.ones(5))[0] == pytest.approx(np.mean([0.5, 1.0, 0.0]))
    single = interval("f1", [table], replicates=300)
    assert single.low <= single.estimate <= single.high


def test_one_runs_interval_is_the_binomial_spread_of_its_test_set():
    # 200 clips, 120 right: the normal approximation gives 0.60 +- 1.96 * sqrt(0.6 * 0.4 / 200) = 0.532 to 0.668.
    examples = [{"reference": "yes", "prediction": "yes" if i < 120 else "no", "correct": int(i < 120)}
                for i in range(200)]
    found = intervals_of(examples, ("accuracy", "f1"))
    assert found["accuracy"]["low"] == pytest.approx(0.532, abs=0.015)
    assert found["accuracy"]["high"] == pytest.approx(0.668, abs=0.015)
    assert found["f1"]["low"] < found["f1"]["high"]
    assert intervals_of([], ("accuracy",)) == {}
