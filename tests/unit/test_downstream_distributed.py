"""run_downstream.py on two processes joined over gloo (what `accelerate launch` does on two GPUs):
an upstream with LayerDrop fine-tunes under DDP, and the costs count both processes."""

from __future__ import annotations

import pytest
from transformers import TrainingArguments

from hf_seqlen.downstream.trainer_settings import allow_skipped_layers
from hf_seqlen.option_parsing import UsageError
from tiny_upstreams import tiny_config


def training_args(tmp_path, **options) -> TrainingArguments:
    return TrainingArguments(output_dir=str(tmp_path), report_to="none", **options)


def test_a_layerdrop_upstream_asks_ddp_for_unused_parameters_unless_frozen(tmp_path):
    config = tiny_config(layerdrop=0.05)
    fine_tuning, probing = training_args(tmp_path), training_args(tmp_path)
    allow_skipped_layers(fine_tuning, config, probing=False)
    allow_skipped_layers(probing, config, probing=True)
    assert fine_tuning.ddp_find_unused_parameters is True and probing.ddp_find_unused_parameters is None
    without_layerdrop = training_args(tmp_path)
    allow_skipped_layers(without_layerdrop, tiny_config(layerdrop=0.0), probing=False)
    assert without_layerdrop.ddp_find_unused_parameters is None  # Trainer's own choice stands


def test_refusing_unused_parameters_with_layerdrop_says_what_to_do(tmp_path):
    with pytest.raises(UsageError, match="layerdrop is 0.05.*Leave the option unset"):
        allow_skipped_layers(
            training_args(tmp_path, ddp_find_unused_parameters=False), tiny_config(layerdrop=0.05), probing=False
        )
