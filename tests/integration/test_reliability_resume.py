"""Crash safety: a SIGKILLed run resumes from its last complete checkpoint, and the resumed run
trains exactly as the uninterrupted one would have."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from crashed_checkpoints import fake_incomplete_checkpoints
from helpers import (
    FAST,
    REPO,
    assert_resume_continues_uninterrupted,
    launch_command,
    launch_env,
    logged_steps,
    run_accelerate,
)
from hf_seqlen.pretrain.checkpoints import (
    complete_checkpoints,
)


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


def test_resumed_run_continues_the_uninterrupted_loss(tmp_path):
    # DataLoader workers decode: their seeding must not leak into the model's random state.
    args = [
        "--max_train_steps",
        "8",
        "--save_steps",
        "4",
        "--dataloader_num_workers",
        "1",
        *FAST,
    ]
    # Stopped after step 4: a run directory holding only the step-4 checkpoint.
    uninterrupted = assert_resume_continues_uninterrupted(tmp_path, args, stopped_at=4)
    assert sorted(step for step in logged_steps(uninterrupted.stderr) if step > 4) == [5, 6, 7, 8]
