"""The training loop a user runs, timed: a run built by `pretrain.run.build_run` on a generated audio folder,
`pretrain.loop.update` over the batches its own loader makes. What `benchmarks.gpu`'s parts measure with.

Crops are cut with --crop_mode chunk, so a corpus of a few hundred files fills batches of 1024 s; a chunk is
decoded as a random crop is (a seek and a read of that range only), so the loader's work per crop is the same.
"""

from __future__ import annotations

import contextlib
import gc
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from hf_seqlen.pretrain.args import DataArguments, ModelArguments, PretrainingArguments
from hf_seqlen.pretrain.loop import update
from hf_seqlen.pretrain.run import PretrainingRun, build_run

from .common import SAMPLING_RATE
from .gpu_report import AS_THE_LOOP_RUNS
from .profiles import GpuProfile


def make_corpus(profile: GpuProfile, root: Path) -> Path:
    """An audio folder of `corpus_files` noise files of `corpus_file_seconds` each (16-bit WAV, 16 kHz): a few
    distinct files, the rest hard links to them (the loader reads every one as its own file), and one
    validation file."""
    rng = np.random.default_rng(0)
    sources = root / "sources"
    sources.mkdir(parents=True)
    samples = int(profile.corpus_file_seconds * SAMPLING_RATE)
    for i in range(profile.corpus_sources):
        sf.write(sources / f"{i}.wav", (rng.standard_normal(samples) * 3000).astype(np.int16), SAMPLING_RATE)
    for split, count in (("train", profile.corpus_files), ("validation", 1)):
        (root / split).mkdir()
        for i in range(count):
            os.link(sources / f"{i % profile.corpus_sources}.wav", root / split / f"{split}-{i}.wav")
    return root


def build(profile: GpuProfile, corpus: Path, crop: float, batch_seconds: float, **options) -> PretrainingRun:
    """A run as `accelerate launch run_pretrain.py --max_duration CROP --max_batch_seconds BATCH ...` builds it;
    `options` are further training options (optim, torch_compile, ...)."""
    model_args = ModelArguments(config_name=profile.config_name, attn_implementation="sdpa")
    data_args = DataArguments(
        data_dir=str(corpus), max_duration=crop, crop_mode="chunk", min_duration=crop, max_eval_samples=1
    )
    args = PretrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="hf_seqlen_gpu_run_"),
        overwrite_output_dir=True,
        max_batch_seconds=batch_seconds,
        max_train_steps=10**6,
        logging_steps=10**6,
        mixed_precision=profile.mixed_precision,
        # FLOPs counted on the first update only (eagerly, a compiled model too): every batch has the same shape,
        # and the warm-up updates after it hold the compiling
        flops_counted_steps=1,
        **options,
    )
    return build_run(model_args, data_args, args)


def stop_energy_tracking(run: PretrainingRun) -> None:
    if run.meter.energy is not None:
        run.meter.energy.stop()


def free_memory() -> None:
    """Give back what finished runs held (loader workers, device memory) before the next is built."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def loader_batches(run: PretrainingRun) -> Iterator[dict]:
    """The run's loader, epoch after epoch, as `pretrain.loop.train` walks it."""
    run.train_batches.max_duration = run.schedule.duration_at(0, run.total_steps)
    epoch = 0
    while True:
        run.train_batches.set_epoch(epoch)
        yield from run.train_loader
        epoch += 1


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class OldRoundTrips:
    """The update's host round trips of the loop before they were removed, restored as torch.cuda.synchronize():
    where the masked frames were counted (before the first forward), where the gradient's norm was checked (after
    clipping) and where save and stop were agreed (after the step). Counts the waits it made."""

    def __init__(self, run: PretrainingRun):
        self.run, self.device, self.waits = run, run.accelerator.device, 0

    def wait(self) -> None:
        synchronize(self.device)
        self.waits += 1

    @contextlib.contextmanager
    def around_updates(self) -> Iterator[None]:
        accelerator, clip = self.run.accelerator, self.run.accelerator.clip_grad_norm_

        def clip_then_wait(*args, **kwargs):
            norm = clip(*args, **kwargs)
            self.wait()
            return norm

        accelerator.clip_grad_norm_ = clip_then_wait
        try:
            yield
        finally:
            del accelerator.clip_grad_norm_  # the bound method again

    def update(self, batch: dict) -> None:
        self.wait()
        update(self.run, [batch])
        self.wait()


def timed_updates(run: PretrainingRun, batches: Iterator[dict], profile: GpuProfile, round_trips: bool = False):
    """Warm-up updates (the first counts FLOPs), then `timed_updates` timed as a whole: seconds per update, the
    share of them the loop spent blocked on the loader, audio per update and peak device memory. With
    `round_trips`, each update waits where the old loop did (OldRoundTrips)."""
    device, old = run.accelerator.device, OldRoundTrips(run)
    one_update = old.update if round_trips else lambda batch: update(run, [batch])
    with old.around_updates() if round_trips else contextlib.nullcontext():
        started = time.perf_counter()
        for _ in range(profile.warmup_updates):
            one_update(next(batches))
        synchronize(device)
        warmup = time.perf_counter() - started
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        waited = audio = 0.0
        crops = []
        old.waits = 0
        started = time.perf_counter()
        for _ in range(profile.timed_updates):
            asked = time.perf_counter()
            batch = next(batches)
            waited += time.perf_counter() - asked
            one_update(batch)
            audio += batch["audio_seconds"]
            crops.append(batch["num_samples"])
        synchronize(device)
        total = time.perf_counter() - started
    return {
        "warmup_seconds": warmup,  # the first updates: compiling, when compiling, and counting FLOPs
        "step_seconds": total / profile.timed_updates,
        "data_wait_share": waited / total,
        "audio_seconds_per_update": audio / profile.timed_updates,
        "crops_per_batch": statistics.median(crops),
        "peak_memory_mib": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None,
        "added_waits_per_update": old.waits / profile.timed_updates,
    }


def counted_flops_per_audio_second(run: PretrainingRun) -> float:
    """FLOPs per audio second as the run's cost meter counted them (FlopCounterMode on its first updates)."""
    counters = run.meter.counters
    return counters.flops_counted / counters.flops_counted_audio_seconds


def optimizer_kind(run: PretrainingRun) -> str:
    defaults = run.optimizer.optimizer.defaults  # inside Accelerate's wrapper
    if defaults.get("fused"):
        return "fused"
    foreach = defaults.get("foreach")
    if foreach is None:  # torch's choice: foreach where the parameters are on a GPU
        foreach = run.accelerator.device.type == "cuda"
    return "foreach" if foreach else "for-loop"


def measure(run: PretrainingRun, profile: GpuProfile, peak_flops: float, round_trips: bool = False) -> dict:
    """One point: the timed updates with their MFU over the measured matmul peak, and how the run was set."""
    found = timed_updates(run, loader_batches(run), profile, round_trips)
    flops = counted_flops_per_audio_second(run) * found["audio_seconds_per_update"]
    return {
        **found,
        "flops_per_update": flops,
        "audio_seconds_per_second": found["audio_seconds_per_update"] / found["step_seconds"],
        "mfu": flops / found["step_seconds"] / peak_flops,
        "optimizer": optimizer_kind(run),
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "old_round_trips": round_trips,
        "loader_workers": run.train_loader.num_workers,
    }


def as_the_loop_runs(run: PretrainingRun, profile: GpuProfile, peak_flops: float) -> list[dict]:
    return [{"status": "measured", **measure(run, profile, peak_flops)}]


def lever_variants(run: PretrainingRun, profile: GpuProfile, peak_flops: float) -> list[dict]:
    """One run measured as the loop runs, with the old round trips, and with cudnn.benchmark flipped."""
    loop_cudnn = torch.backends.cudnn.benchmark  # as the run set it
    found = []
    for lever, round_trips, cudnn in (
        (AS_THE_LOOP_RUNS, False, loop_cudnn),
        ("old host round trips (3 torch.cuda.synchronize() per update)", True, loop_cudnn),
        (f"cudnn.benchmark {'off' if loop_cudnn else 'on'}", False, not loop_cudnn),
    ):
        torch.backends.cudnn.benchmark = cudnn
        found.append({"lever": lever, "status": "measured", **measure(run, profile, peak_flops, round_trips)})
    torch.backends.cudnn.benchmark = loop_cudnn
    return found


def measured_run(
    profile: GpuProfile, corpus: Path, crop: float, batch: float, peak_flops: float, how=as_the_loop_runs, **options
) -> list[dict]:
    """A run built with `options` and measured `how` (as_the_loop_runs or lever_variants)."""
    run = build(profile, corpus, crop, batch, **options)
    try:
        return how(run, profile, peak_flops)
    finally:
        stop_energy_tracking(run)


def peak_matmul_flops(device: torch.device, n: int) -> float:
    """FLOP/s of a large bf16 matrix product: the practical peak MFU is measured against."""
    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    synchronize(device)
    times = []
    for _ in range(10):
        started = time.perf_counter()
        a @ b
        synchronize(device)
        times.append(time.perf_counter() - started)
    return 2 * n**3 / statistics.median(times)


def card_memory_mib(device: torch.device) -> float | None:
    return torch.cuda.get_device_properties(device).total_memory / 2**20 if device.type == "cuda" else None


def out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()
