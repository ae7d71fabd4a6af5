"""Stopping on a cluster's signal, saving by wall time, a bounded disk and damaged checkpoints,
with real training processes (`python run_pretrain.py`, one process, as the docs allow)."""

from __future__ import annotations

import errno

import pytest
import torch
from accelerate import Accelerator

from hf_seqlen.pretrain.checkpoints import (
    CheckpointDiskFull,
    damage,
    resolve_checkpoint,
    save_checkpoint,
)


def test_damage_names_a_lost_file_and_latest_falls_back(tmp_path):
    accelerator = Accelerator(cpu=True)
    accelerator.prepare(torch.nn.Linear(2, 2))
    for step in (1, 2):
        save_checkpoint(accelerator, tmp_path, step, {"step": step, "num_processes": 1}, save_total_limit=0)
    assert damage(tmp_path / "checkpoint-2") is None
    (tmp_path / "checkpoint-2" / "model.safetensors").unlink()
    assert damage(tmp_path / "checkpoint-2") == "model.safetensors is missing"
    assert resolve_checkpoint("latest", tmp_path) == tmp_path / "checkpoint-1"


def test_pruning_after_a_damaged_checkpoint_keeps_the_intact_ones(tmp_path, caplog):
    """latest skips a damaged checkpoint-200 for 100; the resumed run's checkpoints sort below 200.
    Only intact checkpoints count as kept, and 100 goes only once 150 is there to resume from."""
    accelerator = Accelerator(cpu=True)
    accelerator.prepare(torch.nn.Linear(2, 2))
    for step in (100, 200):
        save_checkpoint(accelerator, tmp_path, step, {"step": step, "num_processes": 1}, save_total_limit=0)
    weights = tmp_path / "checkpoint-200" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert resolve_checkpoint("latest", tmp_path) == tmp_path / "checkpoint-100"

    save_checkpoint(accelerator, tmp_path, 150, {"step": 150, "num_processes": 1}, save_total_limit=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-150"]
    assert "removing damaged" in caplog.text and "checkpoint-200 (model.safetensors holds 100 bytes" in caplog.text
    save_checkpoint(accelerator, tmp_path, 160, {"step": 160, "num_processes": 1}, save_total_limit=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-160"]
    assert resolve_checkpoint("latest", tmp_path) == tmp_path / "checkpoint-160"


def test_a_full_disk_keeps_the_previous_checkpoint_and_says_what_was_needed(tmp_path, monkeypatch):
    accelerator = Accelerator(cpu=True)
    accelerator.prepare(torch.nn.Linear(64, 64))
    save_checkpoint(accelerator, tmp_path, 1, {"step": 1, "num_processes": 1}, save_total_limit=0)
    save_state = accelerator.save_state

    def fill_the_disk(folder):
        # A disk cannot be filled on purpose here: the write fails the way a full one fails, part-way.
        save_state(folder)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(accelerator, "save_state", fill_the_disk)
    with pytest.raises(
        CheckpointDiskFull,
        match=r"needs about 0\.\d MB \(the size of checkpoint-1\); "
        r"\S+checkpoint-1 is intact",
    ):
        save_checkpoint(accelerator, tmp_path, 2, {"step": 2, "num_processes": 1}, save_total_limit=0)
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint-1"]
    assert resolve_checkpoint("latest", tmp_path) == tmp_path / "checkpoint-1"
