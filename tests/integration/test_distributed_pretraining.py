"""Pre-training as users run it on several GPUs: BASE-shaped models (group norm, layerdrop) in real
multi-process runs over gloo, and a gradient that does not depend on how the batch was split."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch

from helpers import REPO, SCRIPTS, assert_gradients_close, launch_command, launch_env, run_accelerate
from in_process import built_run
from one_update import update_options, without_dropout
from scripts.one_update_gradient import first_micro_batches, update_gradient
from tiny_upstreams import base_shaped_config


@pytest.mark.parametrize(
    "recipe",
    [
        [],  # transformers' example
        ["--feature_grad_mult", "0.1", "--feature_penalty_weight", "10"],  # fairseq's, as the paper-scale recipe runs
    ],
    ids=["defaults", "fairseq-feature-terms"],
)
def test_two_processes_pretrain_a_base_shaped_model_with_layerdrop(tmp_path, recipe):
    """A layer skipped by layerdrop gets no gradient: DDP must expect it, or the next update fails."""
    # BASE's layerdrop is 0.05; at 0.5 a few updates of two processes surely skip layers.
    config = base_shaped_config(tmp_path / "config", layerdrop=0.5)
    output_dir = tmp_path / "run"
    result = run_accelerate(
        [
            "--config_name",
            str(config),
            "--output_dir",
            str(output_dir),
            "--max_duration",
            "1",
            "--per_device_train_batch_size",
            "4",
            "--max_train_steps",
            "6",
            "--logging_steps",
            "2",
            "--max_eval_samples",
            "8",
            "--flops_counted_steps",
            "1",
            *recipe,
        ],
        processes=2,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((output_dir / "costs.json").read_text())["optimizer_steps"] == 6


def test_the_gradient_does_not_depend_on_how_the_batch_is_split(tmp_path):
    """Two batches accumulated on one process, or one batch on each of two: the same update, since
    the loss is normalised by the masked frames of all processes."""
    config = without_dropout(tmp_path / "config")
    with built_run(update_options(config, tmp_path / "one", accumulation=2)) as run:
        accumulated = update_gradient(run, first_micro_batches(run))
    launch = launch_command(
        [str(tmp_path / "two.pt"), *update_options(config, tmp_path / "two", accumulation=1)],
        processes=2,
        script=SCRIPTS / "one_update_gradient.py",
    )
    result = subprocess.run(
        launch,
        cwd=REPO,
        env=launch_env(2),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    distributed = torch.load(tmp_path / "two.pt")
    assert len(accumulated) > 20
    assert_gradients_close(distributed, accumulated)
