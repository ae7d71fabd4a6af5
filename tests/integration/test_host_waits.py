"""An update that is not a log line never makes the host wait for the device: no tensor read back, no collective
over the device's process group, with one process or two (tests/support/host_waits.py counts them). A GPU would
otherwise run dry at each such call, waiting for the next kernels while the host catches up. What the processes must
agree on before an update travels in one all-reduce of host numbers per update, and only when there are several."""

from __future__ import annotations

import json
import subprocess

from helpers import REPO, SCRIPTS, launch_command, launch_env
from host_waits import ARGS, check_waits


def test_two_processes_update_without_waiting_on_the_device_and_agree_once_per_update(tmp_path):
    command = launch_command(
        [str(tmp_path), *ARGS, "--output_dir", str(tmp_path / "run")],
        processes=2,
        script=SCRIPTS / "count_host_waits.py",
    )
    result = subprocess.run(command, cwd=REPO, env=launch_env(2), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for process in (0, 1):
        found = json.loads((tmp_path / f"waits-{process}.json").read_text())
        check_waits(found["waits"], found["host_talk"], processes=2)
