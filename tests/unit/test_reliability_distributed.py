"""Two processes over gloo on the CPU: every crop on exactly one process per epoch, outputs written
once, a resume that continues where both processes were, a stop signal that reaches one process,
and a process that dies."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from hf_seqlen.corpus.audio import Crop
from hf_seqlen.corpus.sources import BatchPlan, CropBatchSampler, group_into_batches, plan_crops, shard_batches


@pytest.mark.parametrize("world_size", [3, 4])
def test_a_tail_of_fewer_crops_than_processes_is_still_dealt_out(world_size):
    all_crops = [Crop(i, 0.0, 1.0) for i in range(3 * world_size + 2)]
    batches = [all_crops[i : i + 3] for i in range(0, len(all_crops), 3)]  # 2 crops left over
    shards = [shard_batches(batches, rank, world_size) for rank in range(world_size)]
    seen = Counter(crop for shard in shards for batch in shard for crop in batch)
    assert set(seen) == set(all_crops) and set(seen.values()) == {1}
    assert len({len(shard) for shard in shards}) == 1  # an empty last batch keeps the processes in step


@pytest.mark.parametrize("world_size", [3, 4, 8])
def test_no_batch_of_any_process_exceeds_the_batch_seconds(world_size):
    """The leftover batches at an epoch's end are shared out without pooling mixed lengths."""
    rows, durations = np.arange(97), np.random.default_rng(0).uniform(0.3, 16.0, 97)
    plan = BatchPlan(16.0, seed=1, batch_size=None, max_batch_seconds=32.0)
    for epoch in range(10):
        samplers = [CropBatchSampler(rows, durations, plan, rank=r, world_size=world_size) for r in range(world_size)]
        for sampler in samplers:
            sampler.set_epoch(epoch)
        batches = [[crop for crop, _ in batch] for sampler in samplers for batch in sampler]
        assert all(len(b) * max(c.length for c in b) <= 32.0 for b in batches if b)
        assert len({len(sampler) for sampler in samplers}) == 1
        seen = Counter(crop for batch in batches for crop in batch)
        assert len(seen) == len(rows) and set(seen.values()) == {1}


def test_samplers_of_all_processes_cover_the_epoch_plan_once():
    rows, durations = np.arange(37), np.linspace(0.6, 9.0, 37)
    plan = plan_crops(rows, durations, 2.0, "random", seed=3, epoch=1)
    samplers = [
        CropBatchSampler(rows, durations, BatchPlan(2.0, seed=3, batch_size=4), rank=r, world_size=2) for r in (0, 1)
    ]
    for sampler in samplers:
        sampler.set_epoch(1)
    seen = Counter(crop for sampler in samplers for batch in sampler for crop, _ in batch)
    assert set(seen) == set(plan) and set(seen.values()) == {1}
    assert len(group_into_batches(plan, 3, 1, batch_size=4)) == sum(len(s) for s in samplers)
