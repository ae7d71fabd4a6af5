"""The processes of a run, talking outside the device: numbers only the host has, and leaving cleanly."""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist
from accelerate import Accelerator


class HostChannel:
    """Sums over every process numbers each host already holds (masked frames, audio seconds, stop flags).

    Over a CPU (gloo) group of its own, never the device's: an all-reduce of device tensors, read back on the host,
    would wait for every kernel queued before it, and the update's forward pass would start on an idle GPU. One
    process needs no talk at all."""

    def __init__(self, accelerator: Accelerator):
        self.processes = accelerator.num_processes
        # Every process creates the group at the same point of the run, as new_group requires. It waits for a silent
        # peer as long as the run's own group does (--ddp_timeout): new_group's default is 30 minutes.
        timeout = accelerator.init_handler.timeout if accelerator.init_handler else None
        self.group = dist.new_group(backend="gloo", timeout=timeout) if self.processes > 1 else None

    def sum(self, values: list[float]) -> list[float]:
        if self.group is None:
            return list(values)
        numbers = np.asarray(values, dtype=np.float64)
        dist.all_reduce(torch.from_numpy(numbers), group=self.group)  # in place, into `numbers`
        return numbers.tolist()


def leave_process_group(accelerator: Accelerator) -> None:
    """Wait for every process, free the prepared objects, then destroy the process group.

    A process that reaches interpreter exit with a live gloo group can abort ("terminate called without
    an active exception") after its work is done, which fails the whole launch. The order matters: a
    barrier lets gloo's threads drop the last collectives' tensors, and the DDP wrapper goes before the
    group (freeing it after the group was seen to deadlock at exit). Callers drop their own references
    to the wrapped model and optimizer first.
    """
    accelerator.wait_for_everyone()
    accelerator.free_memory()
    accelerator.end_training()
