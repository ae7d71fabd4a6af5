"""Data pipeline: crop-aware decoding against decoding the whole file, and DataLoader batches per
second with 0, 1 and 2 workers over the real sampler, dataset and collator."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from hf_seqlen.corpus.audio import decode_range
from hf_seqlen.pretrain.args import DataArguments

from .common import SAMPLING_RATE, alternate, demo_split, paired_ratio, real_loader, spread
from .profiles import Profile

# soundfile (format, subtype) pairs; OGG/VORBIS is the compressed format lossy corpora ship in.
FORMATS = {"FLAC": ("FLAC", "PCM_16"), "OGG_VORBIS": ("OGG", "VORBIS")}


def speech_like(seconds: float, seed: int) -> np.ndarray:
    """Amplitude-modulated tones plus noise: compresses like speech, unlike pure noise or silence."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLING_RATE)) / SAMPLING_RATE
    voice = np.sin(2 * np.pi * rng.uniform(100, 300) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    return (0.3 * voice + 0.03 * rng.standard_normal(len(t))).astype(np.float32)


def write_sources(folder: Path, profile: Profile) -> dict[str, list[str]]:
    paths: dict[str, list[str]] = {}
    for name, (container, subtype) in FORMATS.items():
        paths[name] = []
        for i in range(profile.source_files):
            path = folder / f"utt{i}.{container.lower()}"
            sf.write(path, speech_like(profile.source_seconds, i), SAMPLING_RATE, format=container, subtype=subtype)
            paths[name].append(str(path))
    return paths


def whole_file_crop(path: str, start: float, length: float) -> np.ndarray:
    """The usual way: decode everything, then slice."""
    samples, rate = sf.read(path, dtype="float32")
    first = int(round(start * rate))
    return samples[first : first + int(round(length * rate))]


def measure_decoding(paths: list[str], profile: Profile, crop: float) -> dict:
    starts = np.random.default_rng(0).uniform(0.0, profile.source_seconds - crop, size=len(paths))

    def per_sample(decode) -> float:
        started = time.perf_counter()
        for path, start in zip(paths, starts):
            decode(path, start)
        return (time.perf_counter() - started) / len(paths)

    times = alternate(
        {
            "crop_aware": lambda: per_sample(lambda p, s: decode_range({"path": p}, s, crop, SAMPLING_RATE)),
            "whole_file": lambda: per_sample(lambda p, s: whole_file_crop(p, s, crop)),
        },
        repeats=profile.decode_repeats,
        warmup=profile.warmup_rounds,
    )
    return {
        "crop_seconds": crop,
        "crop_aware_ms_per_sample": spread([t * 1e3 for t in times["crop_aware"]]),
        "whole_file_ms_per_sample": spread([t * 1e3 for t in times["whole_file"]]),
        "speedup": paired_ratio(times["whole_file"], times["crop_aware"]),
    }


def measure_loader(profile: Profile) -> list[dict]:
    """Batches per second of the loader `pretrain` builds (demo corpus, 2 s crops, 8 per batch).

    The first batch (worker start-up, paid again every epoch) is timed apart from the steady rate.
    """
    base = DataArguments(max_duration=2.0)
    split = demo_split(base)
    loaders = {}
    for workers in profile.loader_workers:
        data_args = dataclasses.replace(base, dataloader_num_workers=workers)
        loaders[workers] = real_loader(split, data_args, "wav2vec2-tiny", batch_size=8)
    first_batch: dict[int, list[float]] = {w: [] for w in loaders}

    def steady_seconds(workers: int) -> float:
        loader, sampler = loaders[workers]
        sampler.set_epoch(0)
        started = time.perf_counter()
        batches = iter(loader)
        next(batches)
        first_batch[workers].append(time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(profile.loader_batches):
            next(batches)
        elapsed = time.perf_counter() - started
        del batches  # shuts the workers down before the next arm runs
        return elapsed

    times = alternate(
        {w: (lambda w=w: steady_seconds(w)) for w in loaders},
        repeats=profile.loader_repeats,
        warmup=profile.warmup_rounds,
    )
    return [
        {
            "workers": w,
            "batches_per_second": spread([profile.loader_batches / t for t in times[w]]),
            "first_batch_seconds": spread(first_batch[w][-profile.loader_repeats :]),  # warm-up round left out
        }
        for w in loaders
    ]


def run(profile: Profile, workdir: Path) -> dict:
    paths = write_sources(workdir, profile)
    return {
        "source_seconds": profile.source_seconds,
        "files": profile.source_files,
        "decoding": {
            name: [measure_decoding(p, profile, c) for c in profile.crop_seconds] for name, p in paths.items()
        },
        "loader": {"max_duration": 2.0, "batch_size": 8, "workers": measure_loader(profile)},
    }
