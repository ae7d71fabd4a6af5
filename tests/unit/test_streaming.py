"""--streaming: crops drawn as files arrive, split between processes, and a real streamed run."""

import itertools
import json

import pytest

from hf_seqlen.corpus.audio import AudioDecoder
from hf_seqlen.corpus.sources import BatchPlan
from hf_seqlen.corpus.streaming import StreamingBatches, StreamingCrops, load_audio_stream
from hf_seqlen.option_parsing import UsageError


def crops_of(folder, rank=0, world_size=1, max_duration=2.0):
    stream = load_audio_stream("train", None, None, str(folder), "audio")
    return StreamingCrops(
        stream,
        "audio",
        AudioDecoder(16000),
        BatchPlan(max_duration=max_duration, min_duration=1.5, seed=0),
        rank=rank,
        world_size=world_size,
    )


def items_of(folder, epoch=0, **kwargs):
    crops = crops_of(folder, **kwargs)
    crops.set_epoch(epoch)
    return list(crops)


def test_stream_crops_respect_the_max_and_min_duration(audio_dir):
    items = items_of(audio_dir)
    assert len(items) == 11  # the 1 s file is below min_duration
    assert all(len(item["input_values"]) <= 32000 for item in items)
    assert all(item["crop"].length <= 2.0 for item in items)


def test_processes_share_the_stream_without_overlap(audio_dir):
    # Uncropped (max 20 s), each file's crop has its own length (2 ... 12 s): the length names the file.
    shards = [
        {item["crop"].length for item in items_of(audio_dir, rank=rank, world_size=2, max_duration=20.0)}
        for rank in range(2)
    ]
    assert shards[0] and shards[1] and not shards[0] & shards[1]
    assert shards[0] | shards[1] == {float(seconds) for seconds in range(2, 13)}


def test_epochs_reshuffle(audio_dir):
    first, second = items_of(audio_dir, epoch=0), items_of(audio_dir, epoch=1)
    assert [i["crop"].start for i in first] != [i["crop"].start for i in second]


def crops_only(items):
    """A collator that keeps what the test compares: which crops a batch holds."""
    return {"crops": [(item["crop"].index, item["crop"].start) for item in items]}


def loader_of(folder, workers, batch_size=2):
    return StreamingBatches(crops_of(folder), batch_size, crops_only, {"num_workers": workers})


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("interrupted_after", [1, 4, 7, 10])  # with 2 workers, turns break at the 10th batch
def test_a_resume_with_workers_trains_on_exactly_what_was_left(audio_dir, workers, interrupted_after):
    """Interrupted mid-epoch, a resumed epoch gives the remaining crops in the uninterrupted order:
    none twice, none lost, although the 1 s file is passed over and each worker reads its own shards
    (with 2 workers, one runs out first: the last batches come from the other alone)."""

    def crop_ids(batches):
        return [crop for batch in batches for crop in batch["crops"]]

    batches = loader_of(audio_dir, workers, batch_size=1)
    batches.set_epoch(0)
    whole = crop_ids(list(batches))
    assert len(whole) == 11 and len(set(i for i, _ in whole)) == 11  # crop indices unique across workers

    interrupted = loader_of(audio_dir, workers, batch_size=1)
    interrupted.set_epoch(0)
    done = crop_ids(list(itertools.islice(interrupted, interrupted_after)))
    resumed = loader_of(audio_dir, workers, batch_size=1)
    resumed.load_state_dict(json.loads(json.dumps(interrupted.state_dict())))  # as a checkpoint stores it
    resumed.set_epoch(0, skip_batches=interrupted_after)
    rest = crop_ids(list(resumed))
    assert sorted(done + rest) == sorted(whole)
    if interrupted.in_turns:
        assert done + rest == whole


def test_a_resume_with_other_workers_is_refused(audio_dir):
    interrupted = loader_of(audio_dir, 2)
    with pytest.raises(UsageError, match="--dataloader_num_workers 2"):
        loader_of(audio_dir, 0).load_state_dict(interrupted.state_dict())
