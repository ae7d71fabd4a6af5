"""run_downstream.py on two processes joined over gloo (what `accelerate launch` does on two GPUs):
an upstream with LayerDrop fine-tunes under DDP, and the costs count both processes."""

from __future__ import annotations

import json

import pytest
from transformers import TrainingArguments

from helpers import launch_downstream
from hf_seqlen.downstream.trainer_settings import allow_skipped_layers
from hf_seqlen.option_parsing import UsageError
from tiny_upstreams import save_upstream, tiny_config

# Half the layers dropped: with two layers, two processes and four steps a step without any skipped
# layer on either process has probability 1/16 per step, so layers go unused in this run.
LAYERDROP = 0.5


@pytest.mark.slow
def test_layerdrop_upstream_fine_tunes_on_two_processes_and_costs_count_both(tmp_path):
    upstream = save_upstream(tmp_path / "upstream", layerdrop=LAYERDROP)
    output_dir = tmp_path / "kws"
    # Activation checkpointing is where Trainer stops looking for unused parameters by itself.
    result = launch_downstream(
        [
            "--task",
            "kws",
            "--model_name_or_path",
            str(upstream),
            "--output_dir",
            str(output_dir),
            "--max_steps",
            "4",
            "--per_device_train_batch_size",
            "4",
            "--max_eval_samples",
            "4",
            "--test_split_name",
            "",
            "--gradient_checkpointing",
            "true",
            "--logging_steps",
            "1",
        ],
        processes=2,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    results = json.loads((output_dir / "results.json").read_text())
    assert results["train"]["steps"] == 4
    costs = results["train"]["costs"]
    assert costs["num_devices"] == 2
    assert costs["device_kind"] == "cpu"  # the training device: ACCELERATE_USE_CPU
    assert costs["device_hours"] == pytest.approx(2 * costs["wall_clock_seconds"] / 3600, rel=1e-3)


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
