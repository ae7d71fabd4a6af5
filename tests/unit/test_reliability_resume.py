"""Crash safety: a SIGKILLed run resumes from its last complete checkpoint, and the resumed run
trains exactly as the uninterrupted one would have."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from accelerate import Accelerator

from crashed_checkpoints import fake_incomplete_checkpoints
from hf_seqlen.pretrain.checkpoints import (
    PROGRESS_FILE,
    complete_checkpoints,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from hf_seqlen.pretrain.state import RunState


def test_incomplete_checkpoints_are_never_picked(tmp_path):
    for step in (10, 20):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / PROGRESS_FILE).write_text("{}")
    fake_incomplete_checkpoints(tmp_path)
    assert complete_checkpoints(tmp_path) == [tmp_path / "checkpoint-10", tmp_path / "checkpoint-20"]
    assert resolve_checkpoint("latest", tmp_path) == tmp_path / "checkpoint-20"
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        resolve_checkpoint(str(tmp_path / "checkpoint-95"), tmp_path)
    assert resolve_checkpoint("latest", tmp_path / "nothing-yet") is None  # a run killed before its first save


def test_save_is_atomic_prunes_and_loads_what_another_process_count_wrote(tmp_path):
    accelerator = Accelerator(cpu=True)
    model = accelerator.prepare(torch.nn.Linear(2, 2))
    fake_incomplete_checkpoints(tmp_path)
    for step in (1, 2, 3):
        save_checkpoint(accelerator, tmp_path, step, {"step": step, "num_processes": 1}, save_total_limit=2)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["checkpoint-2", "checkpoint-3", "checkpoint-95"]  # leftovers of the crash cleared
    with torch.no_grad():
        model.weight.zero_()
    assert load_checkpoint(accelerator, tmp_path / "checkpoint-3")["step"] == 3
    assert model.weight.abs().sum() > 0  # the saved weights came back
    (tmp_path / "checkpoint-3" / PROGRESS_FILE).write_text(json.dumps({"step": 3, "num_processes": 2}))
    with torch.no_grad():
        model.weight.zero_()
    assert load_checkpoint(accelerator, tmp_path / "checkpoint-3")["num_processes"] == 2
    assert model.weight.abs().sum() > 0  # where it goes on in the data is pretrain.run.resume's to say


def test_the_run_state_comes_back_from_progress_json_and_reads_older_checkpoints():
    run = RunState(num_processes=2, step=7, epoch=1, batches_done=3, initial_eval={"eval_loss": 2.9})
    saved = json.loads(json.dumps({**dataclasses.asdict(run), "bad_audio": {}, "costs": {}}))  # as progress.json
    assert RunState.saved_in(saved) == run
    # A checkpoint written before initial_eval and num_processes were saved: one process, no initial validation.
    assert RunState.saved_in(
        {"step": 5, "epoch": 0, "batches_done": 5, "nonfinite_skipped": 0, "bad_audio": {}, "costs": {}}
    ) == RunState(step=5, batches_done=5)


def test_each_process_resumes_at_its_own_epoch_and_batch():
    """Streamed shards differ in length: at a checkpoint, process 1 may be an epoch ahead of process 0."""
    progress = {
        "num_processes": 2,
        "step": 3,
        "epoch": 0,
        "batches_done": 3,
        "nonfinite_skipped": 0,
        "process_positions": [{"epoch": 0, "batches_done": 3}, {"epoch": 1, "batches_done": 1}],
    }
    assert RunState.saved_in(progress, 0) == RunState(num_processes=2, step=3, epoch=0, batches_done=3)
    assert RunState.saved_in(progress, 1) == RunState(num_processes=2, step=3, epoch=1, batches_done=1)
    # A checkpoint written before positions were kept per process: every process at the first one's.
    del progress["process_positions"]
    assert RunState.saved_in(progress, 1) == RunState(num_processes=2, step=3, epoch=0, batches_done=3)
