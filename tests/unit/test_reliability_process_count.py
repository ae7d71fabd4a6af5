"""A run resumed on another number of processes, as a preempted 8-GPU job that comes back on 4: it goes on at
the same global place in the epoch's crop plan, no crop trained twice and fewer than one batch per process left
out; a streamed run, whose place cannot be carried over, starts the stream's next epoch and says so."""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from helpers import FAST
from hf_seqlen.corpus.sources import BatchPlan, CropBatchSampler
from hf_seqlen.pretrain.args import parse_args
from hf_seqlen.pretrain.run import build_run
from hf_seqlen.pretrain.state import RunState
from in_process import on_one_cpu_thread


def trained(samplers: list[CropBatchSampler], epoch: int, skip: int, count: int | None = None) -> list:
    """The crops `samplers` (one per process) hand out in `epoch` after `skip` batches each, `count` batches each."""
    crops = []
    for sampler in samplers:
        sampler.set_epoch(epoch, skip_batches=skip)
        crops += [crop for batch in list(sampler)[:count] for crop, _ in batch]
    return crops


@pytest.mark.parametrize("before, after", [(2, 1), (1, 2), (8, 4), (4, 8), (3, 2), (2, 3)])
@pytest.mark.parametrize("plan", [BatchPlan(4.0, seed=5, batch_size=3), BatchPlan(4.0, seed=5, max_batch_seconds=9)])
def test_another_number_of_processes_goes_on_at_the_same_global_batch(before, after, plan):
    rows, durations = np.arange(41), np.random.default_rng(0).uniform(0.5, 8.0, 41)
    epoch = 2
    global_batches = plan.batches(plan.crops(rows, durations, epoch, plan.max_duration), epoch)
    batch_of = {crop: i for i, batch in enumerate(global_batches) for crop in batch}
    old = [CropBatchSampler(rows, durations, plan, rank, before) for rank in range(before)]
    new = [CropBatchSampler(rows, durations, plan, rank, after) for rank in range(after)]
    for done in range(math.ceil(len(global_batches) / before) + 1):  # every place, the epoch's end included
        state = RunState(num_processes=before, epoch=epoch, batches_done=done)
        state.on_processes(after)
        assert state.num_processes == after
        seen = Counter(trained(old, epoch, 0, done) + trained(new, epoch, state.batches_done))
        assert set(seen.values()) <= {1}, f"a crop trained twice after {done} batches"
        left_out = {batch_of[crop] for crop in batch_of if crop not in seen}
        assert len(left_out) < after, f"{len(left_out)} batches left out after {done} batches"
        assert all(set(global_batches[i]).isdisjoint(seen) for i in left_out)  # whole batches, never part of one


def resume_here(argv: list[str]) -> tuple[RunState, str]:
    """`run_pretrain.py ARGV --resume_from_checkpoint latest` built here: the state it resumes at, and its log."""
    log = io.StringIO()
    with on_one_cpu_thread(log):
        run = build_run(*parse_args([*argv, "--resume_from_checkpoint", "latest", "--mixed_precision", "no"]))
    return run.state, log.getvalue()


def checkpoint_as_two_processes_write_it(argv: list[str], positions: list[dict], **progress) -> Path:
    """A checkpoint written here, by one process, with the progress.json two processes would write: the weights,
    optimizer and scheduler files do not depend on the count, each process's place and random state do (the
    second process's random state is missing, as on a machine that lost it)."""
    with on_one_cpu_thread(io.StringIO()):
        run = build_run(*parse_args([*argv, "--mixed_precision", "no"]))
        run.state = RunState(step=2, epoch=positions[0]["epoch"], batches_done=positions[0]["batches_done"])
        checkpoint = run.checkpoint()
    saved = json.loads((checkpoint / "progress.json").read_text())
    saved.update(num_processes=2, process_positions=positions, **progress)
    (checkpoint / "progress.json").write_text(json.dumps(saved))
    return checkpoint


def test_a_checkpoint_of_two_processes_resumes_on_one_at_the_same_global_batch(tmp_path):
    argv = [*FAST, "--output_dir", str(tmp_path / "run"), "--max_train_steps", "8"]
    positions = [{"epoch": 1, "batches_done": 3}] * 2
    checkpoint_as_two_processes_write_it(argv, positions, gradient_accumulation_steps=1, total_steps=16)
    state, log = resume_here(argv)
    assert state == RunState(num_processes=1, step=2, epoch=1, batches_done=6)
    assert "processes changed from 2 to 1 since checkpoint-2: the epoch goes on after the first 6 batches" in log
    assert "An update's batches over all processes: 2 before, 1 now (--gradient_accumulation_steps 2 keeps 2)" in log
    assert "The run planned 16 updates and now plans 8" in log and "(--max_train_steps 16 keeps" in log
    assert "resumed from" in log and "at step 2 (epoch 1, batch 6)" in log


def test_a_streamed_checkpoint_of_two_processes_resumes_on_one_with_the_next_epoch(tmp_path):
    """The processes' shards of the stream are unequal: the second one had crossed into epoch 1."""
    argv = [*FAST, "--output_dir", str(tmp_path / "run"), "--max_train_steps", "8", "--streaming"]
    checkpoint_as_two_processes_write_it(argv, [{"epoch": 0, "batches_done": 3}, {"epoch": 1, "batches_done": 1}])
    state, log = resume_here(argv)
    assert state == RunState(num_processes=1, step=2, epoch=2, batches_done=0)
    assert "processes changed from 2 to 1 since checkpoint-2: with --streaming" in log
    assert "the stream's next epoch (epoch 2)" in log


def test_resume_latest_with_no_checkpoint_yet_starts_afresh(tmp_path):
    state, log = resume_here([*FAST, "--output_dir", str(tmp_path / "run"), "--max_train_steps", "8"])
    assert state == RunState() and "no intact checkpoint" in log
