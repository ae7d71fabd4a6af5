"""Run under `accelerate launch`: train a built run with its host waits counted (tests/support/host_waits.py), and write
each process's counts to OUTPUT_DIR/waits-<process>.json.

    count_host_waits.py OUTPUT_DIR RUN_PRETRAIN_OPTIONS...
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/support/, for host_waits

from hf_seqlen.pretrain.args import parse_args  # noqa: E402
from hf_seqlen.pretrain.loop import train  # noqa: E402
from hf_seqlen.pretrain.run import build_run  # noqa: E402
from hf_seqlen.process_group import leave_process_group  # noqa: E402
from host_waits import HostWaits  # noqa: E402

if __name__ == "__main__":
    output_dir, options = Path(sys.argv[1]), sys.argv[2:]
    run = build_run(*parse_args(options))
    with HostWaits(run).watching() as counted:
        train(run)
    found = {"waits": counted.waits, "host_talk": counted.host_talk}
    (output_dir / f"waits-{run.accelerator.process_index}.json").write_text(json.dumps(found))
    run.model = run.optimizer = None  # the DDP wrapper goes before the process group
    leave_process_group(run.accelerator)
