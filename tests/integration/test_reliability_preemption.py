"""Stopping on a cluster's signal, saving by wall time, a bounded disk and damaged checkpoints,
with real training processes (`python run_pretrain.py`, one process, as the docs allow)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import FAST, REPO, launch_env, logged_steps, start_until_logged, wait_until_logged
from hf_seqlen.pretrain.checkpoints import (
    complete_checkpoints,
    damage,
)
from hf_seqlen.pretrain.preemption import PREEMPTED_EXIT_STATUS


def pretrain_command(args: list[str]) -> list[str]:
    return [sys.executable, str(REPO / "run_pretrain.py"), *args]


def run_pretrain(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        pretrain_command(args), cwd=REPO, env=launch_env(), capture_output=True, text=True, timeout=600
    )


def start_run_until_logged(args: list[str], log: Path, text: str) -> subprocess.Popen:
    # A session of its own, so that a signal can reach its whole process group, as Ctrl-C or SLURM sends it.
    return start_until_logged(pretrain_command(args), launch_env(), log, text, timeout=300, start_new_session=True)


def test_sigterm_checkpoints_exits_and_resumes_as_if_never_stopped(tmp_path):
    args = ["--max_train_steps", "12", "--dataloader_num_workers", "1", *FAST]
    whole = run_pretrain([*args, "--output_dir", str(tmp_path / "whole")])
    assert whole.returncode == 0, whole.stderr[-3000:]

    stopped_dir, log = tmp_path / "stopped", tmp_path / "stopped.log"
    running = start_run_until_logged([*args, "--output_dir", str(stopped_dir)], log, "step 3: ")
    os.killpg(running.pid, signal.SIGTERM)  # the DataLoader worker too: it must go on serving batches
    assert running.wait(timeout=300) == PREEMPTED_EXIT_STATUS, log.read_text()[-3000:]
    assert log.read_text().count("SIGTERM received: finishing this update") == 1
    [checkpoint] = complete_checkpoints(stopped_dir)
    stopped_at = int(checkpoint.name.split("-")[1])
    assert 3 <= stopped_at < 12 and not (stopped_dir / "model.safetensors").exists()

    resumed = run_pretrain([*args, "--output_dir", str(stopped_dir), "--resume_from_checkpoint", "latest"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    expected = {step: line["loss"] for step, line in logged_steps(whole.stderr).items() if step > stopped_at}
    assert {step: line["loss"] for step, line in logged_steps(resumed.stderr).items()} == pytest.approx(
        expected, rel=1e-6
    )
    assert (stopped_dir / "model.safetensors").read_bytes() == (tmp_path / "whole" / "model.safetensors").read_bytes()


def test_a_second_signal_exits_at_once(tmp_path):
    # Updates of 32 micro-batches (about a second each): the second signal lands while the first is still
    # finishing its update. With one micro-batch a loaded machine could finish the update, save and exit
    # on the first signal before the second arrived.
    log = tmp_path / "run.log"
    running = start_run_until_logged(
        [
            "--max_train_steps",
            "50",
            *FAST,
            "--gradient_accumulation_steps",
            "32",
            "--output_dir",
            str(tmp_path / "run"),
        ],
        log,
        "step 1: ",
    )
    running.send_signal(signal.SIGUSR1)  # what SLURM's --signal=USR1 sends
    wait_until_logged(log, "SIGUSR1 received", 60, running)  # its handler ran first, as a person's would
    running.send_signal(signal.SIGINT)  # then Ctrl-C
    assert running.wait(timeout=60) == 128 + signal.SIGINT
    log = (tmp_path / "run.log").read_text()
    assert "SIGUSR1 received: finishing this update" in log and "second stop signal (SIGINT): exiting now" in log


@pytest.fixture(scope="module")
def saved_by_time(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """6 updates with no --save_steps, a checkpoint every 0.06 s of wall time, the default --save_total_limit."""
    output_dir = tmp_path_factory.mktemp("by-time") / "run"
    result = run_pretrain(["--max_train_steps", "6", "--save_minutes", "0.001", *FAST, "--output_dir", str(output_dir)])
    assert result.returncode == 0, result.stderr[-3000:]
    return output_dir, result


def test_save_minutes_writes_by_time_and_the_default_limit_keeps_three(saved_by_time):
    output_dir, result = saved_by_time
    written = [int(n) for n in re.findall(r"checkpoint: \S+/checkpoint-(\d+) \(\d", result.stderr)]
    assert written[-1] == 6 and len(written) > 1  # before the end only the clock asks for checkpoints
    assert [p.name for p in complete_checkpoints(output_dir)] == [f"checkpoint-{s}" for s in written[-3:]]


def test_a_truncated_newest_checkpoint_is_skipped_at_resume(saved_by_time, tmp_path):
    output_dir = Path(shutil.copytree(saved_by_time[0], tmp_path / "run"))
    *_, previous, newest = complete_checkpoints(output_dir)
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # a file system that lost the file's tail
    resumed = run_pretrain(
        ["--max_train_steps", "6", *FAST, "--output_dir", str(output_dir), "--resume_from_checkpoint", "latest"]
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"skipping damaged {newest} (model.safetensors holds 1000 bytes" in resumed.stderr
    assert f"resumed from {previous} at step {previous.name.split('-')[1]}" in resumed.stderr


def test_a_run_resumed_past_damaged_checkpoints_keeps_its_own(tmp_path):
    """Checkpoints 3 and 4 damaged: the run resumes from 2 and ends at step 3, below the damaged 4; with
    --save_total_limit 1 its own final checkpoint is what remains."""
    output_dir = tmp_path / "run"
    first = run_pretrain(
        [
            "--max_train_steps",
            "4",
            "--save_steps",
            "1",
            "--save_total_limit",
            "0",
            *FAST,
            "--output_dir",
            str(output_dir),
        ]
    )
    assert first.returncode == 0, first.stderr[-3000:]
    for step in (3, 4):
        (output_dir / f"checkpoint-{step}" / "model.safetensors").unlink()
    resumed = run_pretrain(
        [
            "--max_train_steps",
            "3",
            "--save_total_limit",
            "1",
            *FAST,
            "--output_dir",
            str(output_dir),
            "--resume_from_checkpoint",
            "latest",
        ]
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed from {output_dir / 'checkpoint-2'} at step 2" in resumed.stderr
    assert complete_checkpoints(output_dir) == [output_dir / "checkpoint-3"]
    assert damage(output_dir / "checkpoint-3") is None
