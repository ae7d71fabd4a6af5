"""The metric modules shipped in hf_seqlen/metrics load through `evaluate` with no network and compute the right
numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hf_seqlen import metrics

CASES = {
    # 1 substitution + 1 deletion over 4 reference words
    "wer": ({"predictions": ["a x c"], "references": ["a b c d"]}, {"wer": 0.5}),
    # 1 deletion over 4 reference characters
    "cer": ({"predictions": ["abd"], "references": ["abcd"]}, {"cer": 0.25}),
    "accuracy": ({"predictions": [0, 0, 1, 1], "references": [0, 1, 1, 1]}, {"accuracy": 0.75}),
    # class 0: F1 2/3, class 1: F1 4/5
    "f1": ({"predictions": [0, 0, 1, 1], "references": [0, 1, 1, 1]}, {"f1": (2 / 3 + 4 / 5) / 2}),
    # class 0: recall 1, class 1: recall 2/3
    "uar": ({"predictions": [0, 0, 1, 1], "references": [0, 1, 1, 1]}, {"uar": (1 + 2 / 3) / 2}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_metric_is_the_studys_figure_of_its_per_example_outcomes(name):
    inputs, expected = CASES[name]
    assert metrics.score(name, **inputs) == pytest.approx(expected[name])


def test_an_empty_reference_counts_every_hypothesis_word_as_an_insertion():
    assert metrics.transcript_outcome("", "a b") == {"word_edits": 2, "words": 0, "char_edits": 3, "chars": 0}
    assert metrics.score("wer", predictions=["a b", "x"], references=["", "x"]) == pytest.approx(2 / 1)


@pytest.mark.slow
def test_every_module_loads_offline_by_path_and_computes(tmp_path):
    """A fresh process with the Hub switched off and an empty modules cache, as on a machine with no network."""
    script = (
        "import evaluate, json, sys\n"
        "from hf_seqlen.metrics import module_path\n"
        "cases = json.loads(sys.argv[1])\n"
        "scores = {name: evaluate.load(module_path(name)).compute(**inputs) for name, (inputs, _) in cases.items()}\n"
        "print(json.dumps(scores))\n"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_EVALUATE_OFFLINE": "1",
        "HF_MODULES_CACHE": str(tmp_path / "modules"),
    }
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(CASES)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    computed = json.loads(result.stdout.strip().splitlines()[-1])
    for name, (_, expected) in CASES.items():
        assert computed[name] == pytest.approx(expected), name


def test_unknown_metric_names_the_available_ones():
    with pytest.raises(ValueError, match="wer, cer, accuracy, f1, uar"):
        metrics.module_path("bleu")
