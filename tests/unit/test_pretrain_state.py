"""What a run keeps track of: its place, the sums between log lines, skipped updates and bad audio files."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch

from hf_seqlen.corpus.audio import BadAudioError
from hf_seqlen.pretrain.state import UPDATE_SUMS, BadAudioLog, IntervalSums, NonfiniteUpdates, RunState, packed_sums

# One process: reduce and gather give back what this process holds.
ONE_PROCESS = SimpleNamespace(reduce=lambda tensor, reduction: tensor)


def test_a_new_epoch_starts_at_its_first_batch():
    state = RunState(step=7, epoch=2, batches_done=5)
    state.start_epoch()
    assert (state.step, state.epoch, state.batches_done) == (7, 3, 0)


def test_each_process_resumes_at_its_own_place():
    progress = {
        "step": 9,
        "epoch": 1,
        "batches_done": 4,
        "bad_audio": {},
        "costs": {},
        "process_positions": [{"epoch": 1, "batches_done": 4}, {"epoch": 2, "batches_done": 0}],
    }
    assert RunState.saved_in(progress, process_index=1) == RunState(step=9, epoch=2, batches_done=0)
    del progress["process_positions"]  # a checkpoint written before they were kept
    assert RunState.saved_in(progress, process_index=1) == RunState(step=9, epoch=1, batches_done=4)


def test_interval_sums_become_losses_per_masked_frame_and_start_again_from_zero():
    update = dict.fromkeys(UPDATE_SUMS, torch.tensor(0.0)) | {
        name: torch.tensor(value)
        for name, value in {
            "loss": 30.0,
            "contrastive_loss": 24.0,
            "diversity_loss": 6.0,
            "codevector_perplexity": 40.0,
            "masked_frames": 10.0,
            "audio_seconds": 8.0,
            "batches": 2.0,
        }.items()
    }
    sums = IntervalSums(torch.device("cpu"), wall_clock_seconds=100.0)
    sums.add(packed_sums(update))
    sums.add(packed_sums(update))
    line = sums.take(ONE_PROCESS, wall_clock_seconds=104.0)
    assert line == {
        "loss": 3.0,
        "contrastive_loss": 2.4,
        "diversity_loss": 0.6,
        "codevector_perplexity": 20.0,
        "audio_seconds_per_second": 4.0,
    }  # no feature_penalty figure when it is off
    assert sums.device_sums.sum() == 0 and sums.host_sums == [0.0, 0.0, 0.0] and sums.started == 104.0


def test_nonfinite_updates_are_counted_on_the_device_and_reported_when_the_host_reads(tmp_path, caplog):
    nonfinite = NonfiniteUpdates(limit=3, output_dir=tmp_path, device=torch.device("cpu"))
    norms = [1.0, float("nan"), float("inf"), 2.0, float("nan")]  # updates 1-5
    found = [nonfinite.note(torch.tensor(norm)) for norm in norms]
    assert [flag.item() for flag in found] == [0.0, 1.0, 1.0, 0.0, 1.0]  # what the optimizer is told
    with caplog.at_level(logging.WARNING, logger="hf_seqlen.pretrain.loop"):
        assert nonfinite.read(step=5) == 3
        assert nonfinite.read(step=6) == 0  # each dropped update is reported once
    assert caplog.text.count("update skipped") == 1
    assert "non-finite gradient in 3 of updates 1-5: update skipped (at most 2 in a row)" in caplog.text


def test_too_many_nonfinite_updates_in_a_row_stop_the_run_naming_the_fix(tmp_path):
    nonfinite = NonfiniteUpdates(limit=2, output_dir=tmp_path, device=torch.device("cpu"))
    nonfinite.note(torch.tensor(float("nan")))
    assert nonfinite.read(step=1) == 1  # one in a row: the run goes on
    nonfinite.note(torch.tensor(float("inf")))  # a streak goes on across a read
    with pytest.raises(FloatingPointError, match=r"2 updates in a row .* No checkpoint was written yet\. Try a lower"):
        nonfinite.read(step=2)


def test_bad_audio_is_logged_once_and_counted_or_stops_the_run(caplog):
    batch = {"bad_audio": [("a.wav", "truncated"), ("a.wav", "truncated"), ("b.wav", "empty")]}
    found = BadAudioLog("skip", {"c.wav": "unreadable"})
    with caplog.at_level(logging.WARNING, logger="hf_seqlen.pretrain.loop"):
        found.note(batch)
    assert caplog.text.count("skipping bad audio a.wav: truncated") == 1
    assert found.files == {"c.wav": "unreadable", "a.wav": "truncated", "b.wav": "empty"} and len(found) == 3
    with pytest.raises(BadAudioError, match="a.wav"):
        BadAudioLog("error").note(batch)
