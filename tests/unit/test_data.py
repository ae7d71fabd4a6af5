"""Sources, durations, crop plans and batches."""

from collections import Counter

import numpy as np
import pytest
import soundfile as sf
import soxr
from transformers import Wav2Vec2FeatureExtractor

from helpers import write_tone
from hf_seqlen.corpus.audio import AudioDecoder, Crop
from hf_seqlen.corpus.sources import (
    BatchPlan,
    CropBatchSampler,
    CroppedAudio,
    DataSourceError,
    group_into_batches,
    load_audio_folder,
    plan_crops,
    select_usable,
    shard_batches,
    with_durations,
)
from hf_seqlen.pretrain.args import DataArguments, validation_split
from hf_seqlen.pretrain.loaders import load_splits


def test_flat_folder_loads_undecoded_with_durations_from_headers(audio_dir):
    dataset = with_durations(load_audio_folder(audio_dir, "train"))
    assert len(dataset) == 12
    assert set(dataset[0]["audio"]) == {"bytes", "path"}  # a reference, not decoded samples
    assert sorted(dataset["duration"]) == pytest.approx([1.0 + i for i in range(12)])


def test_metadata_and_split_folders_are_read(tmp_path):
    for split, names in {"train": ["a", "b"], "test": ["c"]}.items():
        for name in names:
            write_tone(tmp_path / split / "clips" / f"{name}.wav", seconds=1.0)
        rows = "\n".join(f"clips/{n}.wav,{n.upper()}" for n in names)
        (tmp_path / split / "metadata.csv").write_text(f"file_name,text\n{rows}\n")
    train = load_audio_folder(tmp_path, "train")
    assert train["text"] == ["A", "B"]
    assert train[0]["audio"]["path"].endswith("train/clips/a.wav")
    with pytest.raises(DataSourceError, match="no split 'validation'.*train, test"):
        load_audio_folder(tmp_path, "validation")


def test_class_subfolders_become_labels_without_metadata(tmp_path):
    for label in ("yes", "no"):
        write_tone(tmp_path / label / "0.wav", seconds=1.0)
    assert sorted(load_audio_folder(tmp_path, "train")["label"]) == ["no", "yes"]


def test_min_duration_drops_and_counts_short_files(audio_dir):
    dataset = with_durations(load_audio_folder(audio_dir, "train"))
    report = select_usable(dataset, min_duration=3.5, on_bad_audio="skip")
    assert report.too_short == 3 and len(report.kept_rows) == 9
    assert report.kept_durations.min() >= 3.5


def test_batches_by_count_group_similar_lengths():
    durations = np.linspace(0.5, 4.0, 64)
    crops = plan_crops(np.arange(64), durations, max_duration=8.0, crop_mode="random", seed=0, epoch=0)
    batches = group_into_batches(crops, seed=0, epoch=0, batch_size=8)
    assert sorted(c.index for b in batches for c in b) == list(range(64))
    spreads = [max(c.length for c in b) - min(c.length for c in b) for b in batches]
    assert max(spreads) < 0.5  # neighbours in length, so padding is small


def test_batches_by_seconds_respect_the_padded_budget():
    durations = np.random.default_rng(0).uniform(0.5, 3.0, 100)
    crops = plan_crops(np.arange(100), durations, max_duration=2.0, crop_mode="random", seed=0, epoch=0)
    batches = group_into_batches(crops, seed=0, epoch=0, max_batch_seconds=10.0)
    for batch in batches:
        assert len(batch) * max(c.length for c in batch) <= 10.0 + 1e-9
    assert sum(len(b) for b in batches) == 100


@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_sharding_puts_every_crop_on_exactly_one_process(world_size):
    crops = [Crop(i, 0.0, 1.0) for i in range(37)]
    batches = group_into_batches(crops, seed=0, epoch=0, batch_size=4)
    shards = [shard_batches(batches, rank, world_size) for rank in range(world_size)]
    seen = Counter(c.index for shard in shards for b in shard for c in b)
    assert sorted(seen) == list(range(37)) and set(seen.values()) == {1}
    assert len({len(shard) for shard in shards}) == 1  # same number of steps on every process


def test_sampler_redraws_crops_each_epoch_and_skips_on_resume():
    rows, durations = np.arange(20), np.full(20, 10.0)
    sampler = CropBatchSampler(rows, durations, BatchPlan(max_duration=2.0, seed=3, batch_size=4))
    first_epoch = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first_epoch
    sampler.set_epoch(0, skip_batches=2)
    assert list(sampler) == first_epoch[2:]
    assert sampler.batches_in_epoch == 5


def test_bucketed_batches_are_padded_to_few_lengths():
    """With 8 buckets a whole epoch's padded batch lengths take at most 8 values (without: one per batch)."""
    durations = np.random.default_rng(0).uniform(0.5, 3.0, 200)
    for buckets, most in ((8, 8), (0, 200)):
        sampler = CropBatchSampler(
            np.arange(200),
            durations,
            BatchPlan(max_duration=2.0, seed=0, min_duration=0.5, batch_size=8, length_buckets=buckets),
        )
        longest = {max(crop.length for crop, _ in batch) for batch in sampler}
        assert len(longest) <= most and (buckets or len(longest) > 8)


def test_chunk_mode_plans_every_segment():
    crops = plan_crops(np.array([0, 1]), np.array([5.0, 1.0]), max_duration=2.0, crop_mode="chunk", seed=0, epoch=0)
    assert [(c.index, c.start, c.length) for c in crops] == [(0, 0.0, 2.0), (0, 2.0, 2.0), (0, 4.0, 1.0), (1, 0.0, 1.0)]


def test_cropped_audio_decodes_the_planned_range_normalised(audio_dir):
    dataset = load_audio_folder(audio_dir, "train")
    values = CroppedAudio(dataset, AudioDecoder(8000))[(Crop(5, 1.0, 2.0), 0)]["input_values"]
    assert values.shape == (16000,)
    assert abs(values.mean()) < 1e-3 and values.std() == pytest.approx(1.0, abs=1e-3)


def test_a_batch_of_crops_decodes_as_its_crops_one_by_one_bad_audio_marked(tmp_path):
    """The DataLoader asks for a batch at once (`__getitems__`): same order, repeats kept, bad audio marked."""
    for name, seconds in (("a", 3.0), ("b", 2.0)):
        write_tone(tmp_path / "clips" / f"{name}.wav", seconds=seconds)
    (tmp_path / "clips" / "c.wav").write_bytes(b"RIFF not audio")
    dataset = load_audio_folder(tmp_path, "train")
    audio = CroppedAudio(dataset, AudioDecoder(16000))
    names = [path.rsplit("/", 1)[-1] for path in (row["audio"]["path"] for row in dataset)]
    row = {name: names.index(f"{name}.wav") for name in "abc"}
    items = [(Crop(row[n], start, 1.0), 3) for n, start in (("b", 0.5), ("c", 0.0), ("a", 1.0), ("b", 0.5))]
    batch, one_by_one = audio.__getitems__(items), [audio[item] for item in items]
    assert [item.get("bad_audio", ("",))[0].endswith("c.wav") for item in batch] == [False, True, False, False]
    for together, alone in zip(batch, one_by_one):
        assert together.keys() == alone.keys() and together["crop"] == alone["crop"] and together["epoch"] == 3
        if "input_values" in alone:
            np.testing.assert_array_equal(together["input_values"], alone["input_values"])
    np.testing.assert_array_equal(batch[0]["input_values"], batch[3]["input_values"])


def test_a_feature_extractor_without_normalisation_gets_the_raw_samples(audio_dir):
    dataset = load_audio_folder(audio_dir, "train")
    extractor = Wav2Vec2FeatureExtractor(sampling_rate=8000, do_normalize=False)
    values = CroppedAudio(dataset, AudioDecoder.for_extractor(extractor))[(Crop(5, 1.0, 2.0), 0)]["input_values"]
    expected = soxr.resample(
        sf.read(dataset[5]["audio"]["path"], dtype="float32")[0][16000:48000], 16000, 8000, quality="HQ"
    )
    np.testing.assert_allclose(values, expected, atol=1e-6)


def test_validation_is_a_capped_sample_and_the_rest_of_a_held_out_share_trains(tmp_path):
    for i in range(40):
        write_tone(tmp_path / "corpus" / f"{i:02d}.wav", seconds=1.0)
    held_out = DataArguments(data_dir=str(tmp_path / "corpus"), validation_split_percentage=25, max_eval_samples=4)
    train, validation = load_splits(held_out, validation_split(held_out), seed=0)
    assert (len(train.dataset), len(validation.dataset)) == (36, 4)  # not 30 + 10, 6 of them never used

    for i in range(12):
        write_tone(tmp_path / "named" / "validation" / f"{i:02d}.wav", seconds=1.0)
    write_tone(tmp_path / "named" / "train" / "a.wav", seconds=1.0)
    named = DataArguments(data_dir=str(tmp_path / "named"), max_eval_samples=5)
    _, validation = load_splits(named, validation_split(named), seed=0)
    names = [row["path"].rsplit("/", 1)[1] for row in validation.dataset["audio"]]
    assert len(names) == 5 and names != [f"{i:02d}.wav" for i in range(5)]  # drawn from the whole split
    assert names == sorted(names)
