"""An update that is not a log line never makes the host wait for the device: no tensor read back, no collective
over the device's process group, with one process or two (tests/support/host_waits.py counts them). A GPU would
otherwise run dry at each such call, waiting for the next kernels while the host catches up. What the processes must
agree on before an update travels in one all-reduce of host numbers per update, and only when there are several."""

from __future__ import annotations

from hf_seqlen.pretrain.loop import train
from host_waits import ARGS, HostWaits, check_waits
from in_process import built_run


def test_one_process_updates_without_waiting_on_the_device(tmp_path):
    with built_run([*ARGS, "--output_dir", str(tmp_path / "run")]) as run:
        with HostWaits(run).watching() as counted:
            train(run)
        assert run.state.step == 6
    check_waits(counted.waits, counted.host_talk, processes=1)
