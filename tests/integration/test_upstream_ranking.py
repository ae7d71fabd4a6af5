"""The study's default protocol ranks upstreams: a pre-trained upstream beats the same config untrained,
beyond the 95% interval of the difference, on a keyword corpus with a few hundred held-out test clips.

docs/measurements/downstream-protocol.md measures this at demo scale; here it is kept small: wav2vec2-tiny
pre-trained for 100 updates on the corpus's training clips against its config saved untrained, each probed
with run_downstream's probing defaults. (The session's checkpoint, 60 updates on the shipped corpus's 7
voices, does not beat an untrained one: -1.7 points, 95% CI -8.7 to +5.2.)
"""

from __future__ import annotations

import json

import pytest

from helpers import run_accelerate
from hf_seqlen.cli import downstream_main
from hf_seqlen.corpus.demo_maker import SPLITS, Preset, build_split, every_accent_and_variant
from hf_seqlen.downstream.results import read_examples
from hf_seqlen.statistics import outcome_table, paired_difference
from tiny_upstreams import save_upstream

# Keyword clips only, on voices of their own per split: 12 clips a voice (10 keywords, 1 unknown word, 1 silence).
KEYWORD_VOICES = {"train": 32, "validation": 2, "test": 24}
KEYWORD_PRESET = Preset(
    every_accent_and_variant(KEYWORD_VOICES),
    short_per_voice=0,
    long_per_voice=0,
    keyword_renditions=1,
    unknown_per_voice=1,
    silence_per_voice=1,
)


@pytest.fixture(scope="module")
def keyword_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("keywords")
    for split in SPLITS:
        build_split(root / split, KEYWORD_PRESET.voices[split], KEYWORD_PRESET, pool=[], log=lambda _: None, workers=2)
    return root


def probe(upstream, corpus, output_dir):
    assert (
        downstream_main(
            [
                "--disable_tqdm",
                "true",
                "--task",
                "kws",
                "--freeze_upstream",
                "--data_dir",
                str(corpus),
                "--model_name_or_path",
                str(upstream),
                "--output_dir",
                str(output_dir),
                "--seed",
                "0",
            ]
        )
        == 0
    )
    return outcome_table(read_examples(output_dir))


def test_the_default_probe_ranks_a_trained_upstream_above_an_untrained_one(keyword_corpus, tmp_path):
    upstream = tmp_path / "upstream"
    pretraining = run_accelerate(
        [
            "--data_dir",
            str(keyword_corpus),
            "--max_duration",
            "1",
            "--max_train_steps",
            "100",
            "--output_dir",
            str(upstream),
        ]
    )
    assert pretraining.returncode == 0, pretraining.stderr[-3000:]
    trained = probe(upstream, keyword_corpus, tmp_path / "trained")
    # run_pretrain's default config (wav2vec2-tiny), saved as initialised
    untrained = probe(save_upstream(tmp_path / "untrained-upstream"), keyword_corpus, tmp_path / "untrained")
    assert len(trained["correct"]) == KEYWORD_VOICES["test"] * 12
    difference = paired_difference("accuracy", [trained], [untrained])
    steps = json.loads((tmp_path / "trained" / "results.json").read_text())["train"]["steps"]
    assert difference.low > 0, (
        f"trained minus untrained, {steps} probe steps: {difference.estimate:+.3f} "
        f"(95% CI {difference.low:+.3f} to {difference.high:+.3f})"
    )
