"""A run resumed on another number of processes, as a preempted 8-GPU job that comes back on 4: it goes on at
the same global place in the epoch's crop plan, no crop trained twice and fewer than one batch per process left
out; a streamed run, whose place cannot be carried over, starts the stream's next epoch and says so."""

from __future__ import annotations

import json
import math

import pytest

from helpers import FAST, logged_steps, run_accelerate, write_tone


@pytest.mark.parametrize("before, after, stopped_at", [(2, 1, 1), (1, 2, 3)])
def test_a_run_resumed_on_another_number_of_processes_trains_the_rest_of_its_epoch(tmp_path, before, after, stopped_at):
    """13 files in batches of 2: an epoch of 7 batches, the last of one crop, one batch per process and update.
    Stopped after `stopped_at` updates, then resumed with just enough updates to end the epoch on the new count:
    every crop of the epoch is trained once, but for the one batch 1 -> 2 leaves out when it resumes after 3."""
    corpus, output_dir = tmp_path / "corpus", tmp_path / "run"
    for i in range(13):
        write_tone(corpus / "train" / f"train{i:02d}.flac", seconds=2.0, seed=i)
    for i in range(2):
        write_tone(corpus / "validation" / f"validation{i}.flac", seconds=2.0, seed=20 + i)
    args = [*FAST, "--data_dir", str(corpus)]
    args += ["--output_dir", str(output_dir)]
    first = run_accelerate([*args, "--max_train_steps", str(stopped_at)], processes=before)
    assert first.returncode == 0, first.stderr[-3000:]
    resumed_at = math.ceil(stopped_at * before / after)  # batches of each new process counted as trained
    total = stopped_at + math.ceil(7 / after) - resumed_at

    second = run_accelerate(
        [*args, "--max_train_steps", str(total), "--resume_from_checkpoint", "latest"], processes=after
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"processes changed from {before} to {after} since checkpoint-{stopped_at}" in second.stderr
    assert f"at step {stopped_at} (epoch 0, batch {resumed_at})" in second.stderr
    costs = json.loads((output_dir / "costs.json").read_text())
    assert costs["optimizer_steps"] == total and costs["num_devices"] == after
    assert {line["epoch"] for line in logged_steps(second.stderr).values()} == {0}  # the epoch, not the next
    left_out = resumed_at * after - stopped_at * before  # whole batches, each of 2 crops or the last one's 1
    assert 13 - 2 * left_out <= costs["samples"] <= 13 and (costs["samples"] < 13) == (left_out > 0)
