"""How many updates a pre-training budget buys: a number of updates, audio hours, or FLOPs.

To compare sequence lengths fairly, a sweep gives every arm the same audio or the same compute.
Both convert to updates before training, so the learning-rate schedule knows its length:
audio per update comes from the epoch's crop plan, FLOPs per audio second from FlopCounterMode
on one real forward and backward pass at each length.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..corpus.sources import CropBatchSampler, shard_batches
from ..costs.flops import flop_counter
from . import objective


def epoch_zero_plan(sampler: CropBatchSampler, max_duration: float) -> tuple[list, int]:
    """Epoch 0's batches over all processes at `max_duration`, and the batches each process gets.

    Computed from the whole plan, not a process's shard, so every process reaches the same numbers.
    """
    batches = sampler.plan.batches(sampler.plan.crops(sampler.rows, sampler.durations, 0, max_duration), 0)
    return batches, len(shard_batches(batches, 0, sampler.world_size))


def audio_per_update(batches: list, batches_per_process: int, accumulation: int) -> float:
    """Seconds of audio one update consumes over all processes."""
    seconds = sum(crop.length for batch in batches for crop in batch)
    return seconds / math.ceil(batches_per_process / accumulation)


def flops_per_audio_second(model: torch.nn.Module, batch: dict, device: torch.device) -> float:
    """Forward and backward FLOPs of one real batch, per second of its audio; gradients are discarded."""
    with flop_counter() as counter:
        objective.forward(model, batch, device).loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / batch["audio_seconds"]


def steps_for_budget(
    phases: list[tuple[float, float]],
    budget: float,
    cost_per_update: Callable[[float], float],
) -> int:
    """Updates that spend `budget` when phase (duration, share of updates) costs `cost_per_update(duration)`."""
    mean_cost = sum(share * cost_per_update(duration) for duration, share in phases)
    return max(1, math.ceil(budget / mean_cost))
