"""Leaving a distributed run cleanly, so that a finished process exits with status 0."""

from __future__ import annotations

from accelerate import Accelerator


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
