"""Counting where the host waits for the device during a run's updates, on a CPU where no wait can be seen.

On a GPU, reading a tensor back (`item`, `bool`, `tolist`, `int`, `float`) or a collective over the device's process
group waits for every kernel queued before it. On the CPU those calls cost nothing, so the count is the only way to
hold the loop to none: every such call is counted while a piece of the loop runs, by the update it belongs to. The
run's HostChannel sums numbers the host already has, over a CPU group of its own: counted apart, as host talk.
"""

from __future__ import annotations

import contextlib
import functools
from collections import Counter
from collections.abc import Iterator

import torch
import torch.distributed as dist

from hf_seqlen.pretrain import loop as pretrain
from hf_seqlen.pretrain.run import PretrainingRun

READS = ("item", "tolist", "__bool__", "__int__", "__float__")
COLLECTIVES = ("all_reduce", "all_gather", "all_gather_object", "broadcast", "barrier", "reduce", "gather")
# What `pretrain.loop.train` does after each batch, all of it but the loader's work on the host.
LOOP_PIECES = ("update", "validate_if_due", "start_epoch_if_length_changes", "save_if_due")


class HostWaits:
    """Per update (1, 2, ...): the device waits ({"item": 1, ...}) and the HostChannel's all-reduces."""

    def __init__(self, run: PretrainingRun):
        self.run = run
        self.waits: dict[int, Counter] = {}
        self.host_talk: dict[int, int] = {}
        self.counting = False
        self.update_number = 0

    def _read(self, name: str, original):
        @functools.wraps(original)
        def counted(*args, **kwargs):
            if self.counting:
                self.waits.setdefault(self.update_number, Counter())[name] += 1
            return original(*args, **kwargs)

        return counted

    def _collective(self, name: str, original):
        @functools.wraps(original)
        def counted(*args, **kwargs):
            if self.counting:
                number = self.update_number
                if kwargs.get("group") is not None and kwargs["group"] is self.run.host.group:
                    self.host_talk[number] = self.host_talk.get(number, 0) + 1
                else:
                    self.waits.setdefault(number, Counter())[f"dist.{name}"] += 1
            return original(*args, **kwargs)

        return counted

    def _piece(self, name: str, original):
        @functools.wraps(original)
        def counted(*args, **kwargs):
            # `update` counts its step as it ends: what it calls belongs to the update it makes
            self.update_number = self.run.state.step + (name == "update")
            self.counting = True
            try:
                return original(*args, **kwargs)
            finally:
                self.counting = False

        return counted

    @contextlib.contextmanager
    def watching(self) -> Iterator[HostWaits]:
        patches = [(torch.Tensor, name, self._read(name, getattr(torch.Tensor, name))) for name in READS]
        patches += [(dist, name, self._collective(name, getattr(dist, name))) for name in COLLECTIVES]
        patches += [(pretrain, name, self._piece(name, getattr(pretrain, name))) for name in LOOP_PIECES]
        patches.append((pretrain.UpdateLog, "add", self._piece("log", pretrain.UpdateLog.add)))
        saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
        for owner, name, replacement in patches:
            setattr(owner, name, replacement)
        try:
            yield self
        finally:
            for owner, name, original in saved:
                setattr(owner, name, original)


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
