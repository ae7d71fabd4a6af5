"""The objective options users reach for when a run collapses or diverges: each replaces the config value of its
name in the model that trains, in the collator that draws the negatives, and in what the run records."""

from __future__ import annotations

import re

import pytest
from transformers import Wav2Vec2Config

from hf_seqlen.cli import pretrain_main
from hf_seqlen.pretrain import loop as pretrain
from hf_seqlen.pretrain.args import HUB_CONFIGS, parse_args
from hf_seqlen.publishing.release import pretraining_card
from in_process import built_run, pretrain_in_process
from tiny_upstreams import save_upstream

OVERRIDES = {
    "diversity_loss_weight": 0.5,
    "num_negatives": 10,
    "contrastive_logits_temperature": 0.2,
    "num_codevector_groups": 4,
    "num_codevectors_per_group": 8,
}


def as_words(options: dict) -> list[str]:
    return [text for name, value in options.items() for text in (f"--{name}", str(value))]


def test_objective_options_reach_the_model_the_collator_and_the_records(tmp_path):
    tiny = Wav2Vec2Config.from_pretrained(HUB_CONFIGS / "wav2vec2-tiny")
    assert all(getattr(tiny, name) != value for name, value in OVERRIDES.items())  # each one changes something
    argv = ["--output_dir", str(tmp_path / "run"), "--max_train_steps", "1", *as_words(OVERRIDES)]
    with built_run(argv) as run:
        config = run.unwrapped.config
        assert {name: getattr(config, name) for name in OVERRIDES} == OVERRIDES
        codevectors = run.unwrapped.quantizer.codevectors  # [1, groups x entries, codevector_dim / groups]
        assert tuple(codevectors.shape) == (1, 4 * 8, tiny.codevector_dim // 4)
        batch = next(iter(run.train_loader))
        assert batch["sampled_negative_indices"].shape[-1] == 10  # the collator draws what the loss reads
        recorded = run.run_config  # what pretraining_args.json and the card's configuration state
    assert {name: recorded[name] for name in OVERRIDES} == OVERRIDES
    card = pretraining_card(recorded, {}, None).text
    assert '"num_codevector_groups": 4' in card and '"diversity_loss_weight": 0.5' in card


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--num_codevector_groups", "3"], "--num_codevector_groups 3 does not divide the config's codevector_dim"),
        (["--num_negatives", "0"], "--num_negatives must be >= 1"),
        (["--diversity_loss_weight", "-1"], "--diversity_loss_weight must be >= 0"),
        (["--contrastive_logits_temperature", "0"], "--contrastive_logits_temperature must be > 0"),
        (["--num_codevectors_per_group", "1"], "--num_codevectors_per_group must be >= 2"),
    ],
)
def test_an_objective_value_that_cannot_train_is_one_line(argv, message, tmp_path, capsys):
    assert pretrain_main([*argv, "--output_dir", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("hf_seqlen error: ") and message in error


def test_continued_pre_training_keeps_its_checkpoints_codebook(tmp_path, capsys):
    upstream = save_upstream(tmp_path / "w2v2-tiny")
    argv = ["--model_name_or_path", str(upstream), "--output_dir", str(tmp_path / "run")]
    assert pretrain_main([*argv, "--num_codevectors_per_group", "8"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--num_codevectors_per_group would resize the codebook of --model_name_or_path" in error
    model_args = parse_args([*argv, "--num_negatives", "10"])[0]  # an objective weight may change
    assert model_args.objective_overrides() == {"num_negatives": 10}


def test_the_collapse_warning_names_options_that_exist(tmp_path, monkeypatch):
    """Every perplexity reads as a collapse here, so two real updates log the warning a collapsing run gets."""
    monkeypatch.setattr(pretrain, "PERPLEXITY_COLLAPSE_SHARE", 1e9)
    log = pretrain_in_process(
        ["--output_dir", str(tmp_path / "run"), "--max_train_steps", "2", "--logging_steps", "1", "--warmup_steps", "0"]
    )
    warning = next(line for line in log.splitlines() if "the codebook is collapsing" in line)
    named = re.findall(r"--\w+", warning)
    assert named == ["--diversity_loss_weight", "--learning_rate", "--gumbel_temperature_decay"]
    parse_args([text for option in named for text in (option, "0.5")])  # each is an option that takes a value
