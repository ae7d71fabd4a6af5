"""Budgets in audio hours or FLOPs become a number of updates before training."""

import numpy as np
import pytest

from hf_seqlen.corpus.sources import BatchPlan, CropBatchSampler
from hf_seqlen.pretrain.budget import audio_per_update, epoch_zero_plan, steps_for_budget


def test_audio_per_update_is_the_planned_seconds_over_the_updates():
    sampler = CropBatchSampler(np.arange(40), np.full(40, 10.0), BatchPlan(max_duration=4.0, batch_size=8))
    batches, per_process = epoch_zero_plan(sampler, 2.0)
    assert per_process == 5
    assert audio_per_update(batches, per_process, accumulation=1) == pytest.approx(16.0)
    assert audio_per_update(batches, per_process, accumulation=2) == pytest.approx(80.0 / 3)


def test_every_process_plans_the_same_updates():
    plans = [
        epoch_zero_plan(
            CropBatchSampler(
                np.arange(37), np.full(37, 3.0), BatchPlan(max_duration=2.0, batch_size=4), rank=rank, world_size=3
            ),
            2.0,
        )[1]
        for rank in range(3)
    ]
    assert len(set(plans)) == 1


def test_steps_for_budget_spend_it_across_phases():
    cost = {1.0: 10.0, 2.0: 30.0}.__getitem__
    assert steps_for_budget([(1.0, 1.0)], 1000, cost) == 100
    assert steps_for_budget([(1.0, 0.5), (2.0, 0.5)], 1000, cost) == 50
