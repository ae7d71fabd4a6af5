"""Run an entry script as `accelerate launch` would, then fail unless it destroyed its process group.

    leaves_process_group.py SCRIPT ARGS...

A process that reaches interpreter exit with a live gloo group aborts after its work is done, but only
now and then; checking the group itself makes the omission fail every run.
"""

import runpy
import sys

import torch.distributed as dist

script = sys.argv[1]
sys.argv = sys.argv[1:]
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as finished:
    if finished.code not in (0, None):
        raise
if dist.is_available() and dist.is_initialized():
    sys.exit(f"{script} finished with its process group alive: it must call leave_process_group before returning")
