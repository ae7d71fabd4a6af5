"""An update that is not a log line never makes the host wait for the device: no tensor read back, no collective
over the device's process group, with one process or two (tests/support/host_waits.py counts them). A GPU would
otherwise run dry at each such call, waiting for the next kernels while the host catches up. What the processes must
agree on before an update travels in one all-reduce of host numbers per update, and only when there are several."""

from __future__ import annotations

import json
import subprocess

import pytest

from helpers import REPO, SCRIPTS, launch_command, launch_env
from hf_seqlen.pretrain.loop import train
from host_waits import HostWaits
from in_process import built_run

# Log lines at updates 4 and 6 (the last); updates 1-3 count FLOPs, the others do not; each accumulates 2 batches.
ARGS = [
    "--max_train_steps",
    "6",
    "--logging_steps",
    "4",
    "--gradient_accumulation_steps",
    "2",
    "--per_device_train_batch_size",
    "2",
    "--max_duration",
    "1",
    "--max_eval_samples",
    "4",
]
LOG_LINES = {4, 6}


def check_waits(waits: dict, host_talk: dict, processes: int) -> None:
    waits = {int(update): dict(calls) for update, calls in waits.items()}
    assert {update: calls for update, calls in waits.items() if update not in LOG_LINES} == {}
    assert waits.get(4), "a log line reads its figures back: the count sees host waits where they are"
    assert {int(update): n for update, n in host_talk.items()} == ({u: 1 for u in range(1, 7)} if processes > 1 else {})


def test_one_process_updates_without_waiting_on_the_device(tmp_path):
    with built_run([*ARGS, "--output_dir", str(tmp_path / "run")]) as run:
        with HostWaits(run).watching() as counted:
            train(run)
        assert run.state.step == 6
    check_waits(counted.waits, counted.host_talk, processes=1)


@pytest.mark.slow
def test_two_processes_update_without_waiting_on_the_device_and_agree_once_per_update(tmp_path):
    script = str(SCRIPTS / "count_host_waits.py")
    command = [
        *launch_command([], processes=2)[:-1],
        script,
        str(tmp_path),
        *ARGS,
        "--output_dir",
        str(tmp_path / "run"),
    ]
    result = subprocess.run(command, cwd=REPO, env=launch_env(2), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for process in (0, 1):
        found = json.loads((tmp_path / f"waits-{process}.json").read_text())
        check_waits(found["waits"], found["host_talk"], processes=2)
