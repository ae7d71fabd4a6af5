"""run_downstream.py on two processes joined over gloo (what `accelerate launch` does on two GPUs):
an upstream with LayerDrop fine-tunes under DDP, and the costs count both processes."""

from __future__ import annotations

import json

import pytest

from helpers import launch_downstream
from tiny_upstreams import save_upstream

# Half the layers dropped: with two layers, two processes and four steps a step without any skipped
# layer on either process has probability 1/16 per step, so layers go unused in this run.
LAYERDROP = 0.5


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
