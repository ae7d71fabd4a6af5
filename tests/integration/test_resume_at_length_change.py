"""A run resumed from the checkpoint written where its crop length changes continues as the uninterrupted run: the
twenty-update run changes from 1 s to 2 s crops at update 10 and checkpoints there. The checkpoint must say that the
new length starts a new crop plan; had it kept the old plan's place, the resumed run would re-plan the old epoch at
the new length and skip its first batches, training on other crops in another order, silently."""

from __future__ import annotations

from helpers import logged_steps
from in_process import pretrain_in_process
from twenty_updates import ARGS


def test_a_run_resumed_at_the_length_change_ends_as_the_uninterrupted_run(tmp_path):
    whole = pretrain_in_process([*ARGS, "--output_dir", str(tmp_path / "whole")])
    checkpoint = tmp_path / "whole" / "checkpoint-10"
    assert "step 10: crops now <= 2s" in whole and checkpoint.is_dir()
    resumed = pretrain_in_process(
        [*ARGS, "--output_dir", str(tmp_path / "resumed"), "--resume_from_checkpoint", str(checkpoint)]
    )
    assert "resumed from" in resumed and "at step 10 (epoch 1, batch 0)" in resumed

    def losses(log: str) -> dict:
        return {step: (line["loss"], line["epoch"]) for step, line in logged_steps(log).items() if step > 10}

    assert sorted(losses(resumed)) == list(range(11, 21))
    assert losses(resumed) == losses(whole)
    assert (tmp_path / "resumed" / "model.safetensors").read_bytes() == (
        tmp_path / "whole" / "model.safetensors"
    ).read_bytes()
