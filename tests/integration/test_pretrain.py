"""The main job, end to end: `accelerate launch run_pretrain.py` on the demo corpus."""

import json
import math
import shutil

import pytest
from transformers import Wav2Vec2ForPreTraining, Wav2Vec2Model

from helpers import SESSION_RUN, assert_resume_continues_uninterrupted, logged_steps, run_accelerate


def test_output_holds_model_extractor_costs_and_card(pretrained_checkpoint):
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "costs.json", "README.md"):
        assert (pretrained_checkpoint / name).is_file(), name
    costs = json.loads((pretrained_checkpoint / "costs.json").read_text())
    assert 0 < costs["longest_input_seconds"] <= 2.0
    assert costs["optimizer_steps"] == 60 and costs["wall_clock_seconds"] > 0


def test_output_loads_with_from_pretrained(pretrained_checkpoint):
    pretraining = Wav2Vec2ForPreTraining.from_pretrained(pretrained_checkpoint)
    encoder = Wav2Vec2Model.from_pretrained(pretrained_checkpoint)
    assert pretraining.config.hidden_size == encoder.config.hidden_size


def test_training_logs_every_logging_step(pretrained_checkpoint):
    steps = logged_steps((pretrained_checkpoint.parent / "train.log").read_text())
    assert sorted(steps) == [10, 20, 30, 40, 50, 60]


def test_the_main_job_lowers_the_validation_loss(tmp_path):
    """The README's command with its defaults. With distractors from the masked frames the
    contrastive loss first rises while the codebook spreads, so a few dozen updates show nothing."""
    result = run_accelerate(["--max_duration", "2", "--output_dir", str(tmp_path / "main-job")])
    assert result.returncode == 0, result.stderr[-3000:]
    # Validation uses the same crops, masks and negatives before and after training.
    results = json.loads((tmp_path / "main-job" / "eval_results.json").read_text())
    assert results["eval_loss"] < results["initial_eval_loss"] - 0.1
    assert results["eval_accuracy"] > results["initial_eval_accuracy"] + 0.03


def test_resuming_continues_at_the_saved_step(pretrained_checkpoint, tmp_path):
    output_dir = tmp_path / "resumed"
    output_dir.mkdir()
    shutil.copytree(pretrained_checkpoint / "checkpoint-40", output_dir / "checkpoint-40")
    result = run_accelerate([*SESSION_RUN, "--output_dir", str(output_dir), "--resume_from_checkpoint", "latest"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "at step 40" in result.stderr
    resumed = logged_steps(result.stderr)
    assert sorted(resumed) == [50, 60]
    original = logged_steps((pretrained_checkpoint.parent / "train.log").read_text())
    assert resumed[60]["loss"] == pytest.approx(original[60]["loss"], rel=1e-4)
    assert json.loads((output_dir / "costs.json").read_text())["optimizer_steps"] == 60


def test_a_length_curriculum_under_a_flops_budget(tmp_path):
    output_dir = tmp_path / "curriculum"
    budget = 1e10
    result = run_accelerate(
        [
            "--duration_schedule",
            "1:0.5,2:0.5",
            "--max_train_flops",
            str(budget),
            "--output_dir",
            str(output_dir),
            "--logging_steps",
            "2",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    steps = json.loads((output_dir / "costs.json").read_text())["optimizer_steps"]
    assert f"step {math.ceil(steps / 2)}: crops now <= 2s" in result.stderr
    costs = json.loads((output_dir / "costs.json").read_text())
    assert costs["longest_input_seconds"] == 2.0
    # Bought before training from one measured batch per length: spent within one update of the budget.
    assert abs(costs["flops_total_estimated_from_counted_steps"] - budget) < 2 * budget / steps
    assert json.loads((output_dir / "pretraining_args.json").read_text())["max_duration"] == 2.0


def test_resuming_from_pretrained_weights_trains_in_train_mode(pretrained_checkpoint, tmp_path):
    """from_pretrained returns a model in eval mode (no dropout, an argmax quantizer). A resumed run
    skips the first validation, so nothing but an explicit switch puts it back in train mode."""
    assert_resume_continues_uninterrupted(
        tmp_path,
        [
            "--model_name_or_path",
            str(pretrained_checkpoint),
            "--max_duration",
            "1",
            "--max_train_steps",
            "4",
            "--save_steps",
            "2",
            "--logging_steps",
            "1",
            "--per_device_train_batch_size",
            "2",
            "--max_eval_samples",
            "4",
            "--flops_counted_steps",
            "1",
        ],
        stopped_at=2,
    )
