"""Two processes over gloo on the CPU: every crop on exactly one process per epoch, outputs written
once, a resume that continues where both processes were, a stop signal that reaches one process,
and a process that dies."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from helpers import (
    REPO,
    SCRIPTS,
    launch_command,
    launch_env,
    run_accelerate,
    start_until_logged,
    torchrun_command,
    wait_until_logged,
)
from hf_seqlen.pretrain.checkpoints import complete_checkpoints
from hf_seqlen.pretrain.preemption import PREEMPTED_EXIT_STATUS

TWO = [
    "--max_duration",
    "1",
    "--per_device_train_batch_size",
    "2",
    "--max_train_steps",
    "12",
    "--logging_steps",
    "1",
    "--max_eval_samples",
    "8",
    "--flops_counted_steps",
    "1",
]


# What a peer may take to report a process that died or hangs: a closed socket at once, a silent
# process after --ddp_timeout (10 s here). Far above that is a hang.
DEAD_PEER_BOUND_S = 120


def test_two_processes_train_write_once_and_resume(tmp_path):
    output_dir = tmp_path / "run"
    # One epoch of the demo corpus (217 files) in batches of 18 is 7 updates; the 217th crop is dealt
    # to the first process, and the second joins that last update with an empty batch.
    args = [
        "--output_dir",
        str(output_dir),
        "--max_duration",
        "1",
        "--per_device_train_batch_size",
        "18",
        "--save_steps",
        "2",
        "--save_total_limit",
        "2",
        "--max_eval_samples",
        "8",
        "--flops_counted_steps",
        "1",
    ]
    first = run_accelerate([*args, "--num_train_epochs", "1"], processes=2)
    assert first.returncode == 0, first.stderr[-3000:]
    kept = int(re.search(r"train: (\d+) of \d+ files kept", first.stderr).group(1))
    costs = json.loads((output_dir / "costs.json").read_text())
    assert costs["samples"] == kept  # one crop per file in an epoch, summed over both processes
    assert "2 processes" in first.stderr and first.stderr.count("done: model") == 1
    assert (output_dir / "README.md").is_file() and (output_dir / "model.safetensors").is_file()
    checkpoints = sorted(p.name for p in output_dir.glob("checkpoint-*"))
    assert len(checkpoints) == 2  # --save_total_limit
    final = output_dir / checkpoints[-1]
    assert (final / "random_states_0.pkl").is_file() and (final / "random_states_1.pkl").is_file()

    second = run_accelerate([*args, "--num_train_epochs", "2", "--resume_from_checkpoint", "latest"], processes=2)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"resumed from {final}" in second.stderr
    assert json.loads((output_dir / "costs.json").read_text())["samples"] == 2 * kept


def training_processes(launcher_pid: int) -> dict[int, int]:
    """The pids of the processes `accelerate launch` started, by their RANK."""
    found = {}
    for proc in Path("/proc").iterdir():
        try:
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (proc / "environ").read_bytes().split(b"\0") if parent == launcher_pid else []
        except (OSError, ValueError, IndexError):
            continue  # not a process, or one that ended meanwhile
        ranks = [int(item[5:]) for item in environ if item.startswith(b"RANK=")]
        if ranks:
            found[ranks[0]] = int(proc.name)
    return found


def test_sigterm_to_one_process_checkpoints_both_and_exits(tmp_path):
    output_dir, log = tmp_path / "run", tmp_path / "run.log"
    args = ["--output_dir", str(output_dir), *TWO]
    running = start_until_logged(launch_command(args, processes=2), launch_env(2), log, "step 2: ")
    os.kill(training_processes(running.pid)[1], signal.SIGTERM)  # the main process gets no signal
    running.wait(timeout=300)
    text = log.read_text()
    assert text.count("stopped by a signal after") == 2, text[-3000:]  # both processes, each once
    assert f"exitcode  : {PREEMPTED_EXIT_STATUS}" in text
    [checkpoint] = complete_checkpoints(output_dir)
    assert (checkpoint / "random_states_0.pkl").is_file() and (checkpoint / "random_states_1.pkl").is_file()
    assert not (output_dir / "model.safetensors").exists()

    resumed = run_accelerate([*args, "--resume_from_checkpoint", "latest"], processes=2)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed from {checkpoint}" in resumed.stderr
    assert json.loads((output_dir / "costs.json").read_text())["optimizer_steps"] == 12


@pytest.mark.parametrize(
    "harm, said",
    [
        (signal.SIGKILL, "Signal 9 (SIGKILL)"),  # a crash: the peer's socket closes
        (signal.SIGSTOP, "Timed out waiting 10000ms"),  # a hung process or a lost machine: only --ddp_timeout tells
    ],
)
def test_a_dead_or_hung_process_does_not_hang_its_peer(tmp_path, harm, said):
    output_dir, log = tmp_path / "run", tmp_path / "run.log"
    args = ["--output_dir", str(output_dir), "--save_steps", "1", "--ddp_timeout", "10", *TWO]
    running = start_until_logged(launch_command(args, processes=2), launch_env(2), log, "step 2: ")
    ranks = training_processes(running.pid)
    os.kill(ranks[1], harm)
    try:
        wait_until_logged(log, said, DEAD_PEER_BOUND_S)
    finally:
        # A stopped process never ends by itself. torchrun kills it after a fixed 30 s grace (on this path
        # TORCH_ELASTIC_SHUTDOWN_TIMEOUT is not read); once the peer has reported, the test does so at once.
        with contextlib.suppress(ProcessLookupError):
            os.kill(ranks[1], signal.SIGKILL)
    running.wait(timeout=DEAD_PEER_BOUND_S)
    assert running.returncode != 0

    resumed = run_accelerate([*args, "--resume_from_checkpoint", "latest"], processes=2)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((output_dir / "costs.json").read_text())["optimizer_steps"] == 12


def test_the_numbers_agreed_before_an_update_wait_for_a_silent_peer_no_longer_than_the_run_does(tmp_path):
    """The host's all-reduce before each update runs over a process group of its own (HostChannel): it must give up
    on a silent peer after the run's timeout, as the device's group does, not after new_group's default 30 minutes.
    The test above meets that sum only when the stop lands while process 0 is in it; here process 1 never joins."""
    running = subprocess.Popen(
        torchrun_command(SCRIPTS / "silent_peer.py", [str(tmp_path)]),
        cwd=REPO,
        env=launch_env(2),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = running.communicate(timeout=DEAD_PEER_BOUND_S)
    except subprocess.TimeoutExpired:
        running.terminate()  # torchrun passes it on to its processes, each in a session of its own
        running.communicate(timeout=60)
        pytest.fail(f"process 0 still waited for its silent peer after {DEAD_PEER_BOUND_S} s (the timeout: 3 s)")
    said = re.search(r"gave up after ([\d.]+) s: (.*)", out)
    assert said, out + err[-3000:]
    assert float(said.group(1)) < 30 and "Timed out" in said.group(2), said.group(0)
