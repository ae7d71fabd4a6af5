"""Crops and range decoding on real files."""

import numpy as np
import pytest
import soundfile as sf

from helpers import write_tone
from hf_seqlen.corpus.audio import (
    BadAudioError,
    bucket_lengths,
    chunk_crops,
    decode_range,
    normalize,
    random_crop,
    read_info,
    snap_length,
)
from hf_seqlen.corpus.sources import DEMO_CORPUS


@pytest.mark.parametrize("duration", [0.7, 2.0, 5.3, 17.9])
@pytest.mark.parametrize("max_duration", [1.0, 2.0, 4.0])
def test_random_crop_never_longer_than_max_and_inside_the_utterance(duration, max_duration):
    for epoch in range(5):
        crop = random_crop(3, duration, max_duration, seed=1, epoch=epoch)
        assert crop.length <= max_duration
        assert crop.length == pytest.approx(min(duration, max_duration))
        assert 0 <= crop.start and crop.start + crop.length <= duration + 1e-9


def test_random_crop_differs_between_epochs_and_repeats_for_the_same_seed():
    starts = [random_crop(7, 15.0, 2.0, seed=0, epoch=e).start for e in range(6)]
    assert len(set(starts)) == 6
    assert starts == [random_crop(7, 15.0, 2.0, seed=0, epoch=e).start for e in range(6)]
    assert starts != [random_crop(7, 15.0, 2.0, seed=1, epoch=e).start for e in range(6)]


@pytest.mark.parametrize("duration", [0.6, 2.0, 7.5, 16.0])
def test_chunks_cover_the_whole_utterance_without_overlap(duration):
    chunks = list(chunk_crops(0, duration, 2.0))
    assert chunks[0].start == 0
    for before, after in zip(chunks, chunks[1:]):
        assert after.start == pytest.approx(before.start + before.length)
    assert chunks[-1].start + chunks[-1].length == pytest.approx(duration)
    assert all(c.length <= 2.0 for c in chunks)


def test_chunks_drop_a_last_piece_shorter_than_min_duration():
    chunks = list(chunk_crops(0, 6.2, 2.0, min_duration=0.5))
    assert [c.length for c in chunks] == pytest.approx([2.0, 2.0, 2.0])


def test_bucket_lengths_reach_from_min_to_max_duration():
    assert bucket_lengths(2.0, 0.5, 8) == pytest.approx((0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0))
    assert bucket_lengths(8.0, 0.5, 4) == pytest.approx((0.5, 2.0, 4.0, 6.0, 8.0))  # min_duration: nothing shorter
    assert bucket_lengths(2.0, 0.5, 0) == ()


@pytest.mark.parametrize("duration", [0.5, 0.74, 1.3, 1.999, 2.0, 9.7])
def test_bucketed_random_crop_is_a_bucket_long_and_at_most_a_step_shorter(duration):
    buckets = bucket_lengths(2.0, 0.5, 8)
    for epoch in range(4):
        crop = random_crop(3, duration, 2.0, seed=1, epoch=epoch, buckets=buckets)
        assert crop.length in buckets
        assert min(duration, 2.0) - 0.25 < crop.length <= min(duration, 2.0) + 1e-9
        assert 0 <= crop.start and crop.start + crop.length <= duration + 1e-9


def test_a_short_utterance_snapped_down_shows_another_window_each_epoch():
    """What snapping costs: a 1.7 s utterance gives 1.5 s crops, but not always the same 1.5 s."""
    starts = {random_crop(0, 1.7, 2.0, seed=0, epoch=e, buckets=bucket_lengths(2.0, 0.5, 8)).start for e in range(8)}
    assert len(starts) == 8 and max(starts) <= 0.2 + 1e-9


def test_bucketed_chunks_snap_only_the_last_piece():
    chunks = list(chunk_crops(0, 5.3, 2.0, min_duration=0.5, buckets=bucket_lengths(2.0, 0.5, 8)))
    assert [c.start for c in chunks] == pytest.approx([0.0, 2.0, 4.0])
    assert [c.length for c in chunks] == pytest.approx([2.0, 2.0, 1.25])
    assert snap_length(0.3, (0.5, 1.0)) == 0.3  # below every bucket: left as it is


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg"])
def test_decoded_range_equals_the_same_range_of_a_full_decode(tmp_path, suffix):
    path = tmp_path / f"long{suffix}"
    write_tone(path, seconds=15.0)
    full, rate = sf.read(path, dtype="float32")
    for start in (0.0, 3.217, 12.9):
        crop = decode_range({"path": str(path)}, start, 2.0, target_rate=rate)
        first = int(round(start * rate))
        np.testing.assert_allclose(crop, full[first : first + len(crop)], atol=1e-5)
        assert len(crop) == 2 * rate


def test_decoding_from_bytes_matches_decoding_from_the_path(tmp_path):
    path = tmp_path / "a.flac"
    write_tone(path, seconds=3.0)
    from_path = decode_range({"path": str(path)}, 1.0, 1.0, 16000)
    from_bytes = decode_range({"bytes": path.read_bytes(), "path": "a.flac"}, 1.0, 1.0, 16000)
    np.testing.assert_array_equal(from_path, from_bytes)


def test_stereo_is_mixed_down_and_other_rates_resampled(tmp_path):
    path = tmp_path / "stereo44k.wav"
    samples = write_tone(path, seconds=3.0, rate=44100, channels=2)
    decoded = decode_range({"path": str(path)}, 0.5, 2.0, target_rate=16000)
    assert decoded.ndim == 1 and len(decoded) == 32000
    reference = samples.mean(axis=1)[int(0.5 * 44100) : int(2.5 * 44100)]
    assert np.sqrt(np.mean(decoded**2)) == pytest.approx(np.sqrt(np.mean(reference**2)), rel=0.05)


def test_normalize_gives_zero_mean_unit_variance():
    values = normalize(np.random.default_rng(0).normal(3.0, 5.0, 16000).astype(np.float32))
    assert abs(values.mean()) < 1e-4 and values.std() == pytest.approx(1.0, abs=1e-3)


def test_bad_files_raise_bad_audio_errors_naming_the_file(tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00not audio at all")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full(16000, np.nan, dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(BadAudioError, match="corrupt.wav"):
        read_info({"path": str(corrupt)})
    with pytest.raises(BadAudioError, match="no samples"):
        read_info({"path": str(empty)})
    with pytest.raises(BadAudioError, match="NaN"):
        decode_range({"path": str(nan)}, 0.0, 0.5, 16000)


def test_demo_corpus_long_sentences_crop_to_the_same_samples_as_a_full_decode():
    metadata = (DEMO_CORPUS / "train" / "metadata.csv").read_text().splitlines()[1:]
    longest = max((DEMO_CORPUS / "train" / line.split(",")[0] for line in metadata), key=lambda p: sf.info(p).frames)
    assert read_info({"path": str(longest)}).duration >= 10
    full, rate = sf.read(longest, dtype="float32")
    crop = random_crop(0, len(full) / rate, 2.0, seed=0, epoch=3)
    decoded = decode_range({"path": str(longest)}, crop.start, crop.length, rate)
    first = int(round(crop.start * rate))
    np.testing.assert_allclose(decoded, full[first : first + len(decoded)], atol=1e-4)
