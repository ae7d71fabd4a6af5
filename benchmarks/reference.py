"""Ours against the usual approach, same data (demo corpus), model, seed, loader settings and steps.

The usual approach, written here: decode every file whole, keep its first max_duration seconds,
batch a fixed number of files in random order and pad to the longest. Ours: `pretrain`'s loader
(random crops decoded in their range only, batches grouped by length). Each run is a fresh
process, so its peak memory is its own; the arms alternate.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from hf_seqlen.corpus.audio import Crop, normalize
from hf_seqlen.pretrain.args import DataArguments

from .common import (
    SAMPLING_RATE,
    alternate,
    build_model,
    child_main,
    current_rss_mb,
    demo_split,
    paired_ratio,
    peak_rss_mb,
    real_loader,
    run_fresh_process,
    spread,
    train_step,
)
from .profiles import Profile

ARMS = ("ours", "reference")


class WholeFileAudio(torch.utils.data.Dataset):
    """Decode the whole file, keep the first `max_duration` seconds."""

    def __init__(self, split, max_duration: float):
        self.audio = split.dataset.select_columns(["audio"])
        self.rows = split.selection.kept_rows
        self.max_duration = max_duration

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        row = int(self.rows[i])
        samples, rate = sf.read(self.audio[row]["audio"]["path"], dtype="float32", always_2d=True)
        mono = samples.mean(axis=1)
        if rate != SAMPLING_RATE:
            mono = soxr.resample(mono, rate, SAMPLING_RATE, quality="HQ").astype(np.float32)
        kept = mono[: int(self.max_duration * SAMPLING_RATE)]
        return {"crop": Crop(row, 0.0, len(kept) / SAMPLING_RATE), "epoch": 0, "input_values": normalize(kept)}


def reference_loader(split, ours: torch.utils.data.DataLoader, max_duration: float, batch_size: int, seed: int):
    """Random batches of a fixed size, with the same collator, workers and pinning as ours."""
    return torch.utils.data.DataLoader(
        WholeFileAudio(split, max_duration),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
        collate_fn=ours.collate_fn,
        num_workers=ours.num_workers,
        pin_memory=ours.pin_memory,
        prefetch_factor=ours.prefetch_factor,
        persistent_workers=ours.persistent_workers,
    )


def endless(loader, sampler=None):
    epoch = 0
    while True:
        if sampler is not None:
            sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def measure_arm(point: dict) -> dict:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data_args = DataArguments(max_duration=point["max_duration"])
    split = demo_split(data_args)
    ours, sampler = real_loader(split, data_args, point["config_name"], point["batch_size"], point["seed"], device.type)
    if point["arm"] == "reference":
        batches = endless(reference_loader(split, ours, point["max_duration"], point["batch_size"], point["seed"]))
    else:
        batches = endless(ours, sampler)
    model, optimizer = build_model(point["config_name"], point["seed"])
    model.to(device)
    rss_before = current_rss_mb()
    for _ in range(point["warmup"]):
        train_step(model, optimizer, next(batches), device)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    audio = padded = 0.0
    started = time.perf_counter()
    for _ in range(point["steps"]):
        batch = next(batches)
        train_step(model, optimizer, batch, device)
        audio += batch["audio_seconds"]
        padded += batch["input_values"].numel() / SAMPLING_RATE
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    return {
        **point,
        "device": device.type,
        "audio_seconds_per_second": audio / elapsed,
        "padding_share": 1 - audio / padded,
        "rss_before_steps_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_increase_mb": peak_rss_mb() - rss_before,
        "peak_gpu_memory_mb": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None,
    }


def compare(profile: Profile, config_name: str) -> dict:
    def arm(name: str):
        return lambda: run_fresh_process(
            "reference",
            {
                "arm": name,
                "config_name": config_name,
                "max_duration": profile.reference_max_duration,
                "batch_size": profile.reference_batch_size,
                "warmup": profile.reference_warmup_steps,
                "steps": profile.reference_steps,
                "seed": 0,
            },
        )

    runs = alternate({name: arm(name) for name in ARMS}, repeats=profile.reference_repeats, warmup=0)
    memory_key = "peak_gpu_memory_mb" if runs["ours"][0]["device"] == "cuda" else "peak_rss_mb"

    def values(name: str, key: str) -> list[float]:
        return [r[key] for r in runs[name]]

    return {
        "config_name": config_name,
        "max_duration": profile.reference_max_duration,
        "batch_size": profile.reference_batch_size,
        "steps": profile.reference_steps,
        "memory_measure": memory_key,
        "runs": runs,
        "throughput_ratio": paired_ratio(
            values("ours", "audio_seconds_per_second"), values("reference", "audio_seconds_per_second")
        ),
        "peak_memory_ratio": paired_ratio(values("ours", memory_key), values("reference", memory_key)),
        "peak_rss_increase_ratio": paired_ratio(
            values("ours", "peak_rss_increase_mb"), values("reference", "peak_rss_increase_mb")
        ),
        "padding_share": {name: spread(values(name, "padding_share")) for name in ARMS},
    }


def run(profile: Profile, workdir: Path) -> dict:
    return {"comparisons": [compare(profile, name) for name in profile.reference_configs]}


if __name__ == "__main__":
    child_main(measure_arm)
