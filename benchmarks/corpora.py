"""Corpora the whole-process benchmark generates, so that neither side has seen them before.

Two shapes of length: `mixed` (1.3-7.6 s, uniform) and `librispeech` (2-16 s, mean about 12 s,
skewed long as LibriSpeech's training utterances are). Noise as 16-bit FLAC where audio is decoded
and trained on; sparse silent WAV where only the corpus's size matters (hours of audio made in
milliseconds: a header, then a file extended with `truncate`, which reads back as zeros).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from .common import SAMPLING_RATE

SHAPES = ("mixed", "librispeech")


def durations(shape: str, count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if shape == "mixed":
        return rng.uniform(1.3, 7.6, count)
    if shape == "librispeech":
        return 2.0 + 14.0 * rng.beta(2.5, 1.0, count)  # mean 2 + 14 * 2.5 / 3.5 = 12 s
    raise ValueError(f"unknown corpus shape {shape!r}; one of {SHAPES}")


def noise_corpus(folder: Path, shape: str, count: int, seed: int = 0) -> dict:
    """`count` FLAC files of quiet noise with a tone, lengths drawn by `shape`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 1)
    lengths = durations(shape, count, seed)
    for i, seconds in enumerate(lengths):
        n = int(seconds * SAMPLING_RATE)
        tone = 0.1 * np.sin(2 * np.pi * rng.uniform(100, 1000) * np.arange(n) / SAMPLING_RATE)
        sf.write(
            folder / f"{i:06d}.flac",
            (tone + 0.05 * rng.standard_normal(n)).astype(np.float32),
            SAMPLING_RATE,
            subtype="PCM_16",
        )
    return {"shape": shape, "files": count, "hours": float(lengths.sum()) / 3600}


def _wav_header(frames: int) -> bytes:
    data_bytes = frames * 2  # 16-bit mono
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, SAMPLING_RATE, SAMPLING_RATE * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def silent_corpus(folder: Path, hours: float, seed: int = 0) -> dict:
    """LibriSpeech-shaped files of silence adding up to `hours`, sparse on disk."""
    folder.mkdir(parents=True, exist_ok=True)
    lengths = durations("librispeech", max(2, int(hours * 3600 / 12) + 1), seed)
    lengths = lengths[: max(2, int(np.searchsorted(np.cumsum(lengths), hours * 3600)) + 1)]
    for i, seconds in enumerate(lengths):
        frames = int(seconds * SAMPLING_RATE)
        with open(folder / f"{i:06d}.wav", "wb") as f:
            f.write(_wav_header(frames))
            f.truncate(44 + frames * 2)
    return {"shape": "librispeech", "files": len(lengths), "hours": float(lengths.sum()) / 3600}
