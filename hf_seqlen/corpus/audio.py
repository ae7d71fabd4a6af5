"""Audio at the sample level: read headers, decode only a range, down-mix, resample, normalise,
and plan which range of an utterance a training sample is.

An `AudioRef` is what `datasets.Audio(decode=False)` stores: a dict with a `path` and/or `bytes`.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import soundfile as sf
import soxr
import torch

AudioRef = Mapping[str, Any]

# Frames decoded before the range in containers whose seek is not sample-exact in libsndfile
# (None: from the start). From libsndfile 1.1 on, its Ogg seek errs only in the first lapped block
# it decodes (libsndfile issue #885; a Vorbis block is at most 8192 frames), so two blocks of
# lead-in, dropped, make it exact at a fraction of the cost of decoding from the start. Older
# versions could land off by more (libsndfile issue #643). MPEG decodes from the start.
_LIBSNDFILE_VERSION = tuple(int(part) for part in re.findall(r"\d+", sf.__libsndfile_version__)[:2])
SEEK_LEAD_IN = {"OGG": 16384 if _LIBSNDFILE_VERSION >= (1, 1) else None, "MPEG": None}


class BadAudioError(ValueError):
    """An audio file that cannot be used: unreadable, empty, or holding non-finite samples."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def audio_name(ref: AudioRef) -> str:
    return ref.get("path") or "<in-memory audio>"


def _open(ref: AudioRef) -> sf.SoundFile:
    # Embedded bytes (Hub parquet) win over the path: the path may only be a name.
    source = io.BytesIO(ref["bytes"]) if ref.get("bytes") else ref.get("path")
    if source is None:
        raise BadAudioError(audio_name(ref), "neither a path nor bytes")
    try:
        return sf.SoundFile(source)
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise BadAudioError(audio_name(ref), f"cannot be read ({error})") from None


@dataclass(frozen=True)
class AudioInfo:
    frames: int
    sampling_rate: int
    channels: int

    @property
    def duration(self) -> float:
        return self.frames / self.sampling_rate


def read_info(ref: AudioRef) -> AudioInfo:
    """Duration, rate and channels from the file header, without decoding."""
    with _open(ref) as f:
        info = AudioInfo(frames=f.frames, sampling_rate=f.samplerate, channels=f.channels)
    if info.frames <= 0:
        raise BadAudioError(audio_name(ref), "holds no samples")
    return info


def decode_range(ref: AudioRef, start: float, duration: float | None, target_rate: int) -> np.ndarray:
    """Decode `duration` seconds from `start` (None: to the end), mono float32 at `target_rate`.

    Only the requested frames are read: a 2 s crop of a 20 s file costs a seek and 2 s of decoding.
    Ogg and MP3 are the exception: libsndfile's seek in them can land on the wrong samples, so
    Ogg is decoded from two blocks before the range and MP3 from the start.
    """
    with _open(ref) as f:
        rate = f.samplerate
        first = min(int(round(start * rate)), f.frames)
        count = f.frames - first if duration is None else int(round(duration * rate))
        lead_in = SEEK_LEAD_IN.get(f.format, 0)
        skip = first if lead_in is None else min(first, lead_in)
        try:
            f.seek(first - skip)
            samples = f.read(count + skip, dtype="float32", always_2d=True)[skip:]
        except (sf.LibsndfileError, RuntimeError) as error:
            raise BadAudioError(audio_name(ref), f"decoding failed ({error})") from None
    if samples.shape[0] == 0 or (duration is not None and samples.shape[0] < count - 1):
        raise BadAudioError(
            audio_name(ref), f"truncated: {samples.shape[0]} of {count} samples from {first} could be read"
        )
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    if not np.isfinite(mono).all():
        raise BadAudioError(audio_name(ref), "holds NaN or infinite samples")
    if rate != target_rate:
        mono = soxr.resample(mono, rate, target_rate, quality="HQ").astype(np.float32)
    return mono


def normalize(values: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per utterance, as `Wav2Vec2FeatureExtractor(do_normalize=True)`."""
    return (values - values.mean()) / np.sqrt(values.var() + 1e-7)


@dataclass(frozen=True)
class AudioDecoder:
    """Decode then normalise, the one place both happen: a range of a file, mono, at the feature
    extractor's rate, normalised only when the extractor says so (`do_normalize`)."""

    sampling_rate: int
    do_normalize: bool = True

    @classmethod
    def for_extractor(cls, feature_extractor) -> AudioDecoder:
        return cls(feature_extractor.sampling_rate, feature_extractor.do_normalize)

    def __call__(self, ref: AudioRef, start: float = 0.0, duration: float | None = None) -> np.ndarray:
        values = decode_range(ref, start, duration, self.sampling_rate)
        return normalize(values) if self.do_normalize else values


@dataclass(frozen=True)
class Crop:
    """One training sample: `length` seconds from `start` of utterance `index`."""

    index: int
    start: float
    length: float


def bucket_lengths(max_duration: float, min_duration: float, count: int) -> tuple[float, ...]:
    """`count` lengths evenly spaced up to max_duration, and min_duration (below it nothing is kept),
    so every crop of at least min_duration snaps to one of them. Empty when count is 0."""
    if not count:
        return ()
    steps = (max_duration * k / count for k in range(1, count + 1))
    return tuple(sorted({min_duration, *(s for s in steps if s >= min_duration)}))


def snap_length(length: float, buckets: Sequence[float]) -> float:
    """The longest bucket that fits in `length`; `length` itself without buckets (or below them all)."""
    fitting = [b for b in buckets if b <= length + 1e-9]  # header durations carry rounding
    return fitting[-1] if fitting else length


def random_crop(
    index: int, duration: float, max_duration: float, seed: int, epoch: int, buckets: Sequence[float] = ()
) -> Crop:
    """A window of min(duration, max_duration) seconds (snapped down to a bucket length, if any) at a
    uniform random offset.

    The offset depends only on (seed, epoch, index): every epoch sees another window, a rerun
    or a resumed run sees the same one, whatever the worker or process that decodes it.
    """
    length = snap_length(min(duration, max_duration), buckets)
    slack = duration - length
    if slack <= 0:
        return Crop(index, 0.0, length)
    rng = np.random.default_rng([seed, epoch, index])
    return Crop(index, float(rng.uniform(0.0, slack)), length)


def chunk_crops(
    index: int, duration: float, max_duration: float, min_duration: float = 0.0, buckets: Sequence[float] = ()
) -> Iterator[Crop]:
    """Every consecutive max_duration segment of the utterance; the remainder is kept as a
    shorter last segment (snapped down to a bucket length, if any) unless it is below min_duration."""
    count = max(1, math.ceil(duration / max_duration - 1e-9))
    for k in range(count):
        start = k * max_duration
        length = snap_length(min(max_duration, duration - start), buckets)
        if k > 0 and length < min_duration:
            return
        yield Crop(index, start, length)


def pad_audio(values: Sequence[np.ndarray], length: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad with zeros to the longest, or to `length` if longer; the attention mask marks real samples.

    Built in numpy: torch fills a fresh tensor on all its intra-op threads, and waking them costs
    milliseconds per batch when the training step keeps the cores busy (measured in benchmarks/).
    """
    longest = max(length, *(len(v) for v in values))
    batch = np.zeros((len(values), longest), dtype=np.float32)
    attention_mask = np.zeros((len(values), longest), dtype=np.int64)
    for i, v in enumerate(values):
        batch[i, : len(v)] = v
        attention_mask[i, : len(v)] = 1
    return torch.from_numpy(batch), torch.from_numpy(attention_mask)
