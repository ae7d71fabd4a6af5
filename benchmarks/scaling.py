"""Scaling: step time, audio-seconds per second and peak memory against --max_duration, at a fixed
number of crops per batch and at fixed batch seconds. Every point runs in a fresh process, so its
peak memory is its own. This is the cost curve the study relies on."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

from .common import (
    build_model,
    child_main,
    current_rss_mb,
    peak_rss_mb,
    run_fresh_process,
    synthetic_batch,
    train_step,
)
from .profiles import Profile

MODES = {"fixed_samples": "crops per batch fixed", "fixed_seconds": "audio seconds per batch fixed"}


def measure_point(point: dict) -> dict:
    """One (model, crop length, crops per batch): full-length crops, so no padding muddies the curve."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, optimizer = build_model(point["config_name"])
    model.to(device)
    batch = synthetic_batch(point["config_name"], point["seconds"], point["samples"])
    rss_before = current_rss_mb()
    for _ in range(point["warmup"]):
        train_step(model, optimizer, batch, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(point["steps"]):
        started = time.perf_counter()
        train_step(model, optimizer, batch, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    step = statistics.median(times)
    return {
        **point,
        "device": device.type,
        "step_seconds": step,
        "step_seconds_all": times,
        "audio_seconds_per_second": point["samples"] * point["seconds"] / step,
        "rss_before_steps_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "peak_gpu_memory_mb": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None,
    }


def batch_sizes(model, seconds: float) -> dict[str, int]:
    sizes = {"fixed_samples": model.samples_per_batch}
    if seconds <= model.batch_seconds:
        sizes["fixed_seconds"] = int(model.batch_seconds // seconds)
    return sizes


def run(profile: Profile, workdir: Path) -> dict:
    measured: dict[tuple, dict] = {}  # a point shared by both modes runs once
    curves = []
    for model in profile.scaling_models:
        for mode in MODES:
            points = []
            for seconds in profile.scaling_durations:
                samples = batch_sizes(model, seconds).get(mode)
                if samples is None:
                    continue
                key = (model.config_name, seconds, samples)
                if key not in measured:
                    measured[key] = run_fresh_process(
                        "scaling",
                        {
                            "config_name": model.config_name,
                            "seconds": seconds,
                            "samples": samples,
                            "warmup": profile.scaling_warmup_steps,
                            "steps": model.steps,
                        },
                    )
                points.append(measured[key])
            curves.append(
                {
                    "config_name": model.config_name,
                    "mode": mode,
                    "samples_per_batch": model.samples_per_batch,
                    "batch_seconds": model.batch_seconds,
                    "points": points,
                }
            )
    return {"curves": curves}


def plot(results: dict, path: Path) -> Path:
    """Three panels against crop length: step time, throughput, peak memory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("step_seconds", "step time (s)"),
        ("audio_seconds_per_second", "audio seconds per second"),
        ("peak_rss_mb", "peak memory (MiB)"),
    ]
    figure, axes = plt.subplots(1, len(panels), figsize=(15, 4.5))
    for curve in results["curves"]:
        size = (
            f"{curve['samples_per_batch']} crops"
            if curve["mode"] == "fixed_samples"
            else f"{curve['batch_seconds']:g} s"
        )
        label = f"{curve['config_name']}, {size} per batch"
        seconds = [p["seconds"] for p in curve["points"]]
        for axis, (key, _) in zip(axes, panels):
            values = [
                p["peak_gpu_memory_mb"] if key == "peak_rss_mb" and p["peak_gpu_memory_mb"] else p[key]
                for p in curve["points"]
            ]
            axis.plot(
                seconds, values, marker="o", linestyle="-" if curve["mode"] == "fixed_samples" else "--", label=label
            )
    for axis, (_, title) in zip(axes, panels):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("--max_duration (s)")
        axis.set_title(title)
        axis.grid(True, alpha=0.3)
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=8)
    figure.suptitle("Pre-training cost against crop length (wav2vec 2.0 forward + backward + AdamW)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


if __name__ == "__main__":
    child_main(measure_point)
