"""Pre-training as users run it on several GPUs: BASE-shaped models (group norm, layerdrop) in real
multi-process runs over gloo, and a gradient that does not depend on how the batch was split."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from accelerate.utils import DistributedType

from helpers import REPO, SCRIPTS, assert_gradients_close, launch_command, launch_env, run_accelerate
from hf_seqlen.option_parsing import UsageError
from hf_seqlen.pretrain.run import check_distributed_type
from in_process import built_run
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


def update_options(config: Path, output_dir: Path, accumulation: int) -> list[str]:
    """One update of --gradient_accumulation_steps batches of 4 crops per process."""
    return [
        "--config_name",
        str(config),
        "--output_dir",
        str(output_dir),
        "--max_duration",
        "1",
        "--per_device_train_batch_size",
        "4",
        "--gradient_accumulation_steps",
        str(accumulation),
        "--max_train_steps",
        "1",
        "--max_eval_samples",
        "8",
        "--seed",
        "0",
    ]


def without_dropout(folder: Path) -> Path:
    """A BASE-shaped config whose model in train mode is deterministic, but for the quantizer's noise."""
    dropouts = (
        "hidden_dropout",
        "attention_dropout",
        "activation_dropout",
        "feat_proj_dropout",
        "feat_quantizer_dropout",
    )
    return base_shaped_config(folder, layerdrop=0.0, **dict.fromkeys(dropouts, 0.0))


def test_an_update_is_the_mean_over_the_masked_frames_of_its_micro_batches(tmp_path):
    """Two micro-batches accumulated weigh each masked frame alike: their gradients, weighted by their frames."""
    with built_run(update_options(without_dropout(tmp_path / "config"), tmp_path / "run", accumulation=2)) as run:
        micro_batches = first_micro_batches(run)
        both = update_gradient(run, micro_batches)
        alone = [update_gradient(run, [batch]) for batch in micro_batches]
    frames = [int(batch["mask_time_indices"].sum()) for batch in micro_batches]
    expected = {name: sum(f * gradient[name] for f, gradient in zip(frames, alone)) / sum(frames) for name in both}
    assert_gradients_close(both, expected)


@pytest.mark.slow
def test_the_gradient_does_not_depend_on_how_the_batch_is_split(tmp_path):
    """Two batches accumulated on one process, or one batch on each of two: the same update, since
    the loss is normalised by the masked frames of all processes."""
    config = without_dropout(tmp_path / "config")
    with built_run(update_options(config, tmp_path / "one", accumulation=2)) as run:
        accumulated = update_gradient(run, first_micro_batches(run))
    script = str(SCRIPTS / "one_update_gradient.py")
    launch = [*launch_command([], processes=2)[:-1], script, str(tmp_path / "two.pt")]
    result = subprocess.run(
        [*launch, *update_options(config, tmp_path / "two", accumulation=1)],
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


@pytest.mark.parametrize("kind", [DistributedType.DEEPSPEED, DistributedType.FSDP])
def test_deepspeed_and_fsdp_are_refused_in_one_line(kind):
    # Neither can start on this CPU machine (accelerate's FSDP needs a GPU), so the accelerator is a stand-in.
    with pytest.raises(UsageError, match="is not supported: pre-training runs on one device or on several with DDP"):
        check_distributed_type(SimpleNamespace(distributed_type=kind))
