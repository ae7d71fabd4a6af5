"""Two processes of a run's HostChannel, under torchrun: process 1 never joins the sum, as a stopped process or a
lost machine; process 0 must give up after the Accelerator's process-group timeout (3 s here). Process 0 prints
how long it waited and what it was told, then tells process 1 to leave.

    silent_peer.py FOLDER
"""

import os
import sys
import time
from datetime import timedelta
from pathlib import Path

from accelerate import Accelerator
from accelerate.utils import InitProcessGroupKwargs

from hf_seqlen.process_group import HostChannel

done = Path(sys.argv[1]) / "process-0-done"
accelerator = Accelerator(cpu=True, kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(seconds=3))])
host = HostChannel(accelerator)
if accelerator.process_index == 1:
    deadline = time.monotonic() + 120
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
else:
    started = time.monotonic()
    try:
        host.sum([1.0])
        print("the sum returned without process 1")
    except RuntimeError as error:
        print(f"gave up after {time.monotonic() - started:.1f} s: {error}")
    sys.stdout.flush()
    done.touch()
os._exit(0)  # a group with a pending collective cannot be left cleanly: gloo would abort at exit
