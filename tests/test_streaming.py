"""--streaming: crops drawn as files arrive, split between processes, and a real streamed run."""

import json
from collections import Counter

from hf_seqlen.streaming import StreamingCrops, load_audio_stream

from conftest import run_accelerate


def crops_of(folder, rank=0, world_size=1, epoch=0, skip=0):
    stream = load_audio_stream("train", None, None, str(folder), "audio")
    crops = StreamingCrops(stream, "audio", 16000, max_duration=2.0, min_duration=1.5, seed=0, rank=rank,
                           world_size=world_size)
    crops.set_epoch(epoch, skip_examples=skip)
    return list(crops)


def test_stream_crops_respect_the_max_and_min_duration(audio_dir):
    items = crops_of(audio_dir)
    assert len(items) == 11  # the 1 s file is below min_duration
    assert all(len(item["input_values"]) <= 32000 for item in items)
    assert all(item["crop"].length <= 2.0 for item in items)


def test_processes_share_the_stream_without_overlap(audio_dir):
    shards = [crops_of(audio_dir, rank, 2) for rank in range(2)]
    starts = Counter((round(i["crop"].length, 3), len(i["input_values"])) for shard in shards for i in shard)
    assert sum(len(shard) for shard in shards) == 11
    assert sum(starts.values()) == 11


def test_epochs_reshuffle_and_a_resume_skips_what_was_consumed(audio_dir):
    first, second = crops_of(audio_dir, epoch=0), crops_of(audio_dir, epoch=1)
    assert [i["crop"].start for i in first] != [i["crop"].start for i in second]
    resumed = crops_of(audio_dir, epoch=0, skip=4)
    assert [i["crop"] for i in resumed] == [i["crop"] for i in first if i["crop"].index >= 4]


def test_a_streamed_run_trains_and_writes_its_outputs(tmp_path):
    output_dir = tmp_path / "streamed"
    result = run_accelerate(["--streaming", "--max_train_steps", "6", "--max_duration", "2", "--logging_steps", "3",
                             "--output_dir", str(output_dir), "--max_eval_samples", "16"])
    assert result.returncode == 0, result.stderr[-3000:]
    costs = json.loads((output_dir / "costs.json").read_text())
    assert costs["optimizer_steps"] == 6 and costs["samples"] == 48 and costs["longest_input_seconds"] <= 2.0
