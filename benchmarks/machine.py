"""The machine the numbers come from: CPU model and cores, memory, GPU if any, library versions."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path

import soundfile
import torch

LIBRARIES = ("torch", "transformers", "datasets", "accelerate", "numpy", "soundfile", "soxr")


def _cpuinfo() -> tuple[str, int]:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or "unknown", os.cpu_count() or 0
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    processors = sum(line.startswith("processor") for line in lines)
    return (models[0] if models else platform.processor() or "unknown"), processors


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def describe() -> dict:
    model, processors = _cpuinfo()
    gpus = (
        [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    )
    versions = {name: importlib.metadata.version(name) for name in LIBRARIES}
    versions["libsndfile"] = soundfile.__libsndfile_version__
    versions["python"] = platform.python_version()
    return {
        "cpu_model": model,
        "cpu_cores": processors,
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": _memory_gib(),
        "gpus": gpus,
        "cuda": torch.version.cuda,
        "platform": platform.platform(),
        "versions": versions,
    }
