"""The metric modules shipped in hf_seqlen/metrics load through `evaluate` with no network and compute the right
numbers."""

from __future__ import annotations

import pytest

from hf_seqlen import metrics
from metric_cases import CASES


@pytest.mark.parametrize("name", list(CASES))
def test_each_metric_is_the_studys_figure_of_its_per_example_outcomes(name):
    inputs, expected = CASES[name]
    assert metrics.score(name, **inputs) == pytest.approx(expected[name])


def test_an_empty_reference_counts_every_hypothesis_word_as_an_insertion():
    assert metrics.transcript_outcome("", "a b") == {"word_edits": 2, "words": 0, "char_edits": 3, "chars": 0}
    assert metrics.score("wer", predictions=["a b", "x"], references=["", "x"]) == pytest.approx(2 / 1)


def test_unknown_metric_names_the_available_ones():
    with pytest.raises(ValueError, match="wer, cer, accuracy, f1, uar"):
        metrics.module_path("bleu")
