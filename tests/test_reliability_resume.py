"""Crash safety: a SIGKILLed run resumes from its last complete checkpoint, and the resumed run
trains exactly as the uninterrupted one would have."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator

from helpers import REPO, launch_command, launch_env, logged_steps, run_accelerate
from hf_seqlen.pretrain.checkpoints import (
    PROGRESS_FILE,
    complete_checkpoints,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from hf_seqlen.pretrain.state import RunState

FAST = [
    "--max_duration",
    "1",
    "--per_device_train_batch_size",
    "2",
    "--flops_counted_steps",
    "1",
    "--max_eval_samples",
    "8",
]


def fake_incomplete_checkpoints(output_dir: Path) -> None:
    """What a crash leaves: a half-written temporary folder, and a folder without progress.json."""
    (output_dir / ".checkpoint-90.partial").mkdir()
    (output_dir / ".checkpoint-90.partial" / PROGRESS_FILE).write_text("{}")
    (output_dir / "checkpoint-95").mkdir()
    (output_dir / "checkpoint-95" / "model.safetensors").write_bytes(b"half")


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
    assert model.weight.abs().sum() > 0  # where it goes on in the data is pretrain_run.resume's to say


def test_the_run_state_comes_back_from_progress_json_and_reads_older_checkpoints():
    run = RunState(
        num_processes=2, step=7, epoch=1, batches_done=3, nonfinite_skipped=1, initial_eval={"eval_loss": 2.9}
    )
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


@pytest.mark.slow
def test_sigkill_then_resume_latest_finishes(tmp_path):
    output_dir = tmp_path / "run"
    args = ["--output_dir", str(output_dir), "--max_train_steps", "80", "--save_steps", "10", *FAST]
    # Its own process group, so the kill takes the launcher and the training process, as a crash does.
    with subprocess.Popen(
        launch_command(args),
        cwd=REPO,
        env=launch_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as running:
        deadline = time.monotonic() + 300
        while len(complete_checkpoints(output_dir)) < 2 and running.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        os.killpg(running.pid, signal.SIGKILL)
    assert running.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (output_dir / "model.safetensors").exists()
    last_complete = complete_checkpoints(output_dir)[-1]
    fake_incomplete_checkpoints(output_dir)

    result = run_accelerate([*args, "--resume_from_checkpoint", "latest"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resumed from {last_complete} at step {last_complete.name.split('-')[1]}" in result.stderr
    assert (output_dir / "model.safetensors").is_file() and (output_dir / "costs.json").is_file()
    assert json.loads((output_dir / "costs.json").read_text())["optimizer_steps"] == 80
    assert not (output_dir / ".checkpoint-90.partial").exists()


@pytest.mark.slow
def test_resumed_run_continues_the_uninterrupted_loss(tmp_path):
    # DataLoader workers decode: their seeding must not leak into the model's random state.
    args = [
        "--max_train_steps",
        "8",
        "--save_steps",
        "4",
        "--logging_steps",
        "1",
        "--dataloader_num_workers",
        "1",
        *FAST,
    ]
    uninterrupted = run_accelerate([*args, "--output_dir", str(tmp_path / "whole")])
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    # Stopped after step 4: a run directory holding only the step-4 checkpoint.
    (tmp_path / "resumed").mkdir()
    shutil.copytree(tmp_path / "whole" / "checkpoint-4", tmp_path / "resumed" / "checkpoint-4")
    resumed = run_accelerate([*args, "--output_dir", str(tmp_path / "resumed"), "--resume_from_checkpoint", "latest"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    expected = {step: line["loss"] for step, line in logged_steps(uninterrupted.stderr).items() if step > 4}
    assert sorted(expected) == [5, 6, 7, 8]
    assert {step: line["loss"] for step, line in logged_steps(resumed.stderr).items()} == pytest.approx(
        expected, rel=1e-6
    )
    assert (tmp_path / "resumed" / "model.safetensors").read_bytes() == (
        tmp_path / "whole" / "model.safetensors"
    ).read_bytes()
