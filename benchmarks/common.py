"""What every measurement shares: alternating timed arms, summaries with their spread, peak memory,
fresh-process runs, a training step, and the demo corpus ready for the real loader."""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining

from hf_seqlen.corpus.audio import AudioDecoder, Crop
from hf_seqlen.pretrain.args import HUB_CONFIGS
from hf_seqlen.pretrain.collate import PretrainingCollator, model_inputs

REPO = Path(__file__).resolve().parent.parent
SAMPLING_RATE = 16000


# --------------------------------------------------------------------------- timing


def alternate(arms: Mapping[str, Callable[[], Any]], repeats: int, warmup: int = 1) -> dict[str, list]:
    """Run the arms A B A B ... after `warmup` unrecorded rounds; each call returns its own measurement
    (or None: its wall time is taken here). Alternating spreads a shared machine's noise over every arm."""
    results: dict[str, list] = {name: [] for name in arms}
    for round_ in range(warmup + repeats):
        for name, arm in arms.items():
            started = time.perf_counter()
            value = arm()
            elapsed = time.perf_counter() - started if value is None else value
            if round_ >= warmup:
                results[name].append(elapsed)
    return results


def spread(values: list[float]) -> dict:
    """Median with min, max and every value, so a reader sees the noise."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "values": values}


def median_interval(values: list[float], confidence: float = 0.95) -> dict:
    """The median with a distribution-free interval from order statistics: the k-th smallest and k-th largest
    values, k the largest rank whose binomial tail (n, 1/2) keeps the coverage at `confidence` or more. Rounds on
    a shared machine have heavy tails, which a mean's t-interval would let one slow round widen."""
    ordered, n = sorted(values), len(values)
    tail = (1 - confidence) / 2
    below = 0.0  # P(Binomial(n, 1/2) < k)
    k = 0
    while k < n // 2 and below + math.comb(n, k) / 2**n <= tail:
        below += math.comb(n, k) / 2**n
        k += 1
    if k == 0:
        return {"median": statistics.median(values), "low": None, "high": None, "rounds": n}
    return {"median": statistics.median(values), "low": ordered[k - 1], "high": ordered[n - k], "rounds": n}


def paired_ratio(numerators: list[float], denominators: list[float]) -> dict:
    """Ratios of the arms round by round (the rounds ran back to back, under the same load)."""
    return spread([n / d for n, d in zip(numerators, denominators)])


# --------------------------------------------------------------------------- memory and processes


def peak_rss_mb() -> float:
    """Peak resident memory of this process's own program so far.

    Not ru_maxrss: Linux carries the parent's peak across fork and exec into the child's ru_maxrss,
    so a child of a harness that had grown to 900 MiB reads at least 900 MiB whatever it does.
    VmHWM belongs to the memory of the program now running, which exec starts afresh.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:  # not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def current_rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def run_fresh_process(module: str, point: dict, timeout: float = 3600) -> dict:
    """`python -m benchmarks.<module> '<point json>'` in a new process, so its peak memory is its own.

    The child prints one JSON line last; that line is the result.
    """
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", json.dumps(point)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmarks.{module} {point} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def child_main(measure: Callable[[dict], dict]) -> None:
    """Entry point of a fresh-process measurement: read the point, print the result as JSON."""
    print(json.dumps(measure(json.loads(sys.argv[1]))))


# --------------------------------------------------------------------------- model and batches


def load_config(name: str) -> Wav2Vec2Config:
    return Wav2Vec2Config.from_pretrained(HUB_CONFIGS / name)


def returns_attention_mask(name: str) -> bool:
    return json.loads((HUB_CONFIGS / name / "preprocessor_config.json").read_text())["return_attention_mask"]


def build_model(name: str, seed: int = 0) -> tuple[Wav2Vec2ForPreTraining, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = Wav2Vec2ForPreTraining(load_config(name))
    model.train()
    return model, torch.optim.AdamW(model.parameters(), lr=1e-4)


def synthetic_batch(name: str, seconds: float, size: int, seed: int = 0) -> dict:
    """A collated batch of `size` full-length crops of noise: the model's cost depends on shape only."""
    rng = np.random.default_rng(seed)
    samples = [
        {
            "crop": Crop(i, 0.0, seconds),
            "epoch": 0,
            "input_values": rng.standard_normal(int(seconds * SAMPLING_RATE)).astype(np.float32),
        }
        for i in range(size)
    ]
    collator = PretrainingCollator(load_config(name), SAMPLING_RATE, returns_attention_mask(name), seed)
    return collator(samples)


def train_step(model, optimizer, batch: dict, device: torch.device) -> None:
    """Forward, backward and the AdamW update: the work a step cannot avoid."""
    model(**model_inputs(batch, device)).loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


# --------------------------------------------------------------------------- results


def write_json(results_dir: Path, name: str, data: dict) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


# --------------------------------------------------------------------------- the real data pipeline


def demo_split(data_args):
    """The demo corpus's training split, durations read and bad files dropped, as the loop sees it."""
    from hf_seqlen.pretrain.args import validation_split
    from hf_seqlen.pretrain.loaders import load_splits

    train, _ = load_splits(data_args, validation_split(data_args), seed=0)
    return train


def real_loader(split, data_args, config_name: str, batch_size: int, seed: int = 0, device: str = "cpu"):
    """The loader `pretrain` builds (hf_seqlen.pretrain.loaders.make_loader, batches as `args.resolve` plans them),
    with its collator."""
    from accelerate import Accelerator

    from hf_seqlen.pretrain.args import ModelArguments, PretrainingArguments, resolve
    from hf_seqlen.pretrain.loaders import loader_settings, make_loader

    accelerator = Accelerator(cpu=device == "cpu")
    collator = PretrainingCollator(load_config(config_name), SAMPLING_RATE, returns_attention_mask(config_name), seed)
    decoder = AudioDecoder(SAMPLING_RATE)
    options = PretrainingArguments(per_device_train_batch_size=batch_size, seed=seed)
    plan = resolve(ModelArguments(), data_args, options).train_batch_plan
    return make_loader(split, plan, decoder, collator, accelerator, loader_settings(data_args, accelerator))
