"""Pre-training as users run it on several GPUs: BASE-shaped models (group norm, layerdrop) in real
multi-process runs over gloo, and a gradient that does not depend on how the batch was split."""

from __future__ import annotations

import json
import subprocess
from types import SimpleNamespace

import pytest
import torch
from accelerate.utils import DistributedType

from helpers import ACCELERATE, REPO, assert_gradients_close, launch_env, run_accelerate
from hf_seqlen.options import UsageError
from hf_seqlen.pretrain_run import check_distributed_type
from tiny_upstreams import base_shaped_config


@pytest.mark.parametrize(
    "recipe",
    [
        [],  # transformers' example
        ["--feature_grad_mult", "0.1", "--feature_penalty_weight", "10"],  # fairseq's, as the paper-scale recipe runs
    ],
    ids=["defaults", "fairseq-feature-terms"],
)
@pytest.mark.slow
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


def one_update_gradient(config, output, processes: int, batches_per_process: int) -> dict[str, torch.Tensor]:
    placement = (
        ["--cpu", "--num_processes", "1"] if processes == 1 else ["--multi_gpu", "--num_processes", str(processes)]
    )
    result = subprocess.run(
        [
            ACCELERATE,
            "launch",
            *placement,
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            str(REPO / "tests" / "scripts" / "one_update_gradient.py"),
            str(config),
            str(output),
            str(batches_per_process),
        ],
        cwd=REPO,
        env=launch_env(processes),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return torch.load(output)


@pytest.mark.slow
def test_the_gradient_does_not_depend_on_how_the_batch_is_split(tmp_path):
    """Two batches accumulated on one process, or one batch on each of two: the same update, since
    the loss is normalised by the masked frames of all processes."""
    config = base_shaped_config(
        tmp_path / "config",
        layerdrop=0.0,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        feat_quantizer_dropout=0.0,
    )
    accumulated = one_update_gradient(config, tmp_path / "one.pt", processes=1, batches_per_process=2)
    distributed = one_update_gradient(config, tmp_path / "two.pt", processes=2, batches_per_process=1)
    assert len(accumulated) > 20
    assert_gradients_close(distributed, accumulated)


@pytest.mark.parametrize("kind", [DistributedType.DEEPSPEED, DistributedType.FSDP])
def test_deepspeed_and_fsdp_are_refused_in_one_line(kind):
    # Neither can start on this CPU machine (accelerate's FSDP needs a GPU), so the accelerator is a stand-in.
    with pytest.raises(UsageError, match="is not supported: pre-training runs on one device or on several with DDP"):
        check_distributed_type(SimpleNamespace(distributed_type=kind))
