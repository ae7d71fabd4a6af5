"""The study's statistics on synthetic per-example outcomes: fast and deterministic (fixed seeds)."""

import tracemalloc
from dataclasses import replace

import numpy as np
import pytest

from hf_seqlen.statistics import (
    holm,
    interval,
    intervals_of,
    metric_values,
    outcome_table,
    paired_difference,
    pseudo_values,
)
from hf_seqlen.study.report import describe
from simulated_studies import assert_intervals_cover_a_seed_effect, assert_intervals_cover_speaker_effects, study


def accuracy_tables(rng, difficulty, shift, seeds):
    """One table per seed: example i is right with probability difficulty[i] + shift."""
    return [
        {"correct": (rng.random(len(difficulty)) < np.clip(difficulty + shift, 0, 1)).astype(float)}
        for _ in range(seeds)
    ]


def test_an_arm_against_itself_is_identical():
    rng = np.random.default_rng(0)
    tables = accuracy_tables(rng, rng.uniform(0.2, 0.8, 300), 0.0, 3)
    difference = paired_difference("accuracy", tables, tables)
    assert difference.estimate == 0 and difference.low == 0 and difference.high == 0
    assert difference.seeds == 3 and difference.p_value == 1.0


def test_an_a_a_study_says_no_detectable_difference_at_the_nominal_rate():
    # Two arms made the same way (A/A), 200 studies of 3 seeds: "no detectable difference" in about 95% of them.
    rng = np.random.default_rng(7)
    said = []
    for _ in range(200):
        arm, reference = study(rng, 200, 3, 0.05, 0.0)
        found = paired_difference("accuracy", arm, reference)
        row = {
            "arm": "A2",
            "seeds": 3,
            "kws_test_examples": 200,
            "kws_accuracy": 0.5,
            "kws_accuracy_diff_vs_reference": found.estimate,
            "kws_accuracy_diff_ci_low": found.low,
            "kws_accuracy_diff_ci_high": found.high,
        }
        said.append("no detectable difference" in describe(row, {"arm": "A1", "kws_accuracy": 0.5}, "kws_accuracy"))
    assert 0.90 <= np.mean(said) <= 0.99, np.mean(said)


def test_examples_are_paired_by_id_and_a_mismatch_is_refused():
    examples = [
        {"id": f"clip{i}", "reference": "a", "prediction": "a" if i % 2 else "b", "correct": i % 2} for i in range(20)
    ]
    shuffled = [examples[i] for i in np.random.default_rng(0).permutation(20)]
    same = paired_difference("accuracy", [outcome_table(examples)], [outcome_table(shuffled)])
    assert same.estimate == 0 and same.low == 0 == same.high
    renamed = [{**e, "id": e["id"] + "x"} if i == 3 else e for i, e in enumerate(examples)]
    with pytest.raises(ValueError, match="same test examples"):
        paired_difference("accuracy", [outcome_table(examples)], [outcome_table(renamed)])


def test_holm_adjusts_step_down_and_keeps_the_order():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]


@pytest.mark.parametrize("shift", [0.15, -0.15])
def test_a_known_shift_is_detected_with_its_sign(shift):
    rng = np.random.default_rng(1)
    difficulty = rng.uniform(0.3, 0.7, 400)
    better = accuracy_tables(rng, difficulty, shift, 3)
    reference = accuracy_tables(rng, difficulty, 0.0, 3)
    difference = paired_difference("accuracy", better, reference)
    assert difference.excludes_zero() and np.sign(difference.estimate) == np.sign(shift)
    assert difference.low < shift < difference.high


def test_error_rates_sum_edits_over_the_corpus_like_jiwer():
    table = {"word_edits": np.array([1.0, 0.0, 3.0]), "words": np.array([2.0, 5.0, 3.0])}
    assert metric_values("wer", table, np.ones(3))[0] == pytest.approx(4 / 10)
    # A lower error rate is a negative difference.
    worse = {"word_edits": table["word_edits"] + 1, "words": table["words"]}
    assert paired_difference("wer", [table], [worse]).estimate == pytest.approx(-0.3)


def test_macro_f1_and_uar_match_their_definitions():
    table = {"reference_class": np.array([0, 0, 1, 1, 2]), "predicted_class": np.array([0, 1, 1, 1, 0])}
    f1 = np.mean([2 * 1 / (2 + 2), 2 * 2 / (2 + 3), 0.0])
    assert metric_values("f1", table, np.ones(5))[0] == pytest.approx(f1)
    assert metric_values("uar", table, np.ones(5))[0] == pytest.approx(np.mean([0.5, 1.0, 0.0]))
    single = interval("f1", [table])
    assert single.low <= single.estimate <= single.high


def test_one_runs_interval_is_the_binomial_spread_of_its_test_set():
    # 200 clips, 120 right: the normal approximation gives 0.60 +- 1.96 * sqrt(0.6 * 0.4 / 200) = 0.532 to 0.668.
    examples = [
        {"reference": "yes", "prediction": "yes" if i < 120 else "no", "correct": int(i < 120)} for i in range(200)
    ]
    found = intervals_of(examples, ("accuracy", "f1"))
    assert found["accuracy"]["low"] == pytest.approx(0.532, abs=0.015)
    assert found["accuracy"]["high"] == pytest.approx(0.668, abs=0.015)
    assert found["f1"]["low"] < found["f1"]["high"]
    assert intervals_of([], ("accuracy",)) == {}


def test_a_comparison_on_one_seed_says_so():
    row = {
        "arm": "1s",
        "seeds": 1,
        "kws_test_examples": 200,
        "kws_accuracy": 0.6,
        "kws_accuracy_diff_vs_reference": 0.1,
        "kws_accuracy_diff_ci_low": 0.05,
        "kws_accuracy_diff_ci_high": 0.15,
        "kws_accuracy_diff_seeds": 1,
        "kws_accuracy_diff_p_holm": 0.01,
    }
    said = describe(row, {"arm": "4s", "kws_accuracy": 0.5}, "kws_accuracy")
    assert "better" in said and "on one pre-training seed (the interval covers test examples only)" in said
    assert "holds after Holm's adjustment" in said
    row.update(kws_accuracy_diff_seeds=3, kws_accuracy_diff_p_holm=0.2)
    said = describe(row, {"arm": "4s", "kws_accuracy": 0.5}, "kws_accuracy")
    assert "3 seeds" in said and "not after Holm's adjustment" in said


def test_without_clusters_each_example_is_its_own_unit():
    # Every example its own speaker gives the interval of a table with no cluster column.
    rng = np.random.default_rng(3)
    tables = accuracy_tables(rng, rng.uniform(0.2, 0.8, 120), 0.0, 3)
    plain = interval("accuracy", tables)
    own = interval("accuracy", [{**t, "cluster": np.arange(120)} for t in tables])
    assert own.estimate == pytest.approx(plain.estimate)
    assert own.low == pytest.approx(plain.low) and own.high == pytest.approx(plain.high)
    assert own.speakers == 120 and plain.speakers == 0


def test_speakers_never_make_an_interval_narrower_than_its_clips_allow():
    # Every voice says each of 10 keywords once and an untrained probe answers "yes" to all: each voice scores
    # exactly 10%, so over voices the spread is nil; a new set of clips could still score otherwise.
    keywords = np.tile(np.arange(10), 8)
    table = {"correct": (keywords == 0).astype(float), "cluster": np.repeat(np.arange(8), 10)}
    found, clips = interval("accuracy", [table]), interval("accuracy", [{"correct": table["correct"]}])
    assert found.low < 0.1 < found.high and (found.low, found.high) == (clips.low, clips.high)
    assert found.speakers == 8


def test_one_speakers_clips_are_counted_as_clips_and_speakers_that_disagree_between_tables_are_refused():
    # A run evaluated on a few clips of one voice (--max_eval_samples 8) still gets its interval.
    table = {"id": np.array(["a", "b", "c"]), "correct": np.array([1.0, 0.0, 1.0]), "cluster": np.array(["v"] * 3)}
    one = interval("accuracy", [table])
    assert one == replace(interval("accuracy", [{"correct": table["correct"]}]), speakers=1)
    other = {**table, "cluster": np.array(["v", "w", "v"])}
    with pytest.raises(ValueError, match="test example b has speaker 'v' in one outcome table and 'w' in another"):
        interval("accuracy", [table, other])


def test_outcome_files_give_their_speakers_to_the_tables():
    examples = [
        {"id": f"clip{i}", "reference": "a", "prediction": "a", "correct": 1, "cluster": f"voice{i % 2}"}
        for i in range(4)
    ]
    assert outcome_table(examples)["cluster"].tolist() == ["voice0", "voice1", "voice0", "voice1"]
    assert "cluster" not in outcome_table([{k: v for k, v in e.items() if k != "cluster"} for e in examples])


def test_one_arms_seeds_are_matched_by_id_and_a_mismatch_is_refused():
    rng = np.random.default_rng(5)
    ids = np.array([f"clip{i:03d}" for i in range(200)])
    difficulty = rng.uniform(0.1, 0.9, 200)
    tables = [{"id": ids, **t} for t in accuracy_tables(rng, difficulty, 0.0, 3)]
    order = rng.permutation(200)
    shuffled = [tables[0], *({name: column[order] for name, column in t.items()} for t in tables[1:])]
    assert interval("accuracy", shuffled) == interval("accuracy", tables)
    renamed = {**tables[2], "id": np.array([*ids[:-1], "clip999"])}
    with pytest.raises(ValueError, match="one arm's seeds need the same test examples .*clip199"):
        interval("accuracy", [tables[0], tables[1], renamed])
    repeated = {**tables[2], "id": np.array([*ids[:-1], ids[0]])}
    with pytest.raises(ValueError, match="same test examples"):
        interval("accuracy", [tables[0], repeated])


def test_pseudo_values_of_large_tables_need_memory_linear_in_the_examples():
    # A 12,000-example, 12-class F1 table once needed an n x n identity per block (1.2 GB); 100,000 examples fit too.
    rng = np.random.default_rng(6)
    for n in (12_000, 100_000):
        reference = rng.integers(0, 12, n)
        table = {"reference_class": reference, "predicted_class": np.where(rng.random(n) < 0.6, reference, 0)}
        tracemalloc.start()
        values = pseudo_values("f1", table)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 300e6, f"{n} examples: peak {peak / 1e6:.0f} MB"
        assert values.mean() == pytest.approx(metric_values("f1", table, np.ones(n))[0])


def test_intervals_cover_the_truth_95_percent_of_the_time_with_a_seed_effect():
    """One cell of the coverage grid (tests/integration/test_statistics.py runs the rest): two seeds with a strong
    seed effect, where a bootstrap over seeds fails worst."""
    assert_intervals_cover_a_seed_effect(seed_sd=0.10, seeds=2, shift=0.05)


def test_intervals_over_speakers_cover_the_truth_with_speaker_and_arm_by_speaker_effects():
    """One cell of the speaker grid (about 3 s; tests/integration/test_statistics.py runs the rest): where counting
    clips as independent fails worst."""
    assert_intervals_cover_speaker_effects(seed_sd=0.02, seeds=5)
