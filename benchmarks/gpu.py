"""On a GPU: what bf16 autocast, SDPA or flash attention, fused AdamW and `torch.compile` buy per
step; model FLOPs utilisation (FlopCounterMode FLOPs over the measured peak of a large bf16 matrix
product); and the share of the step spent waiting for data, by worker count and pinned memory.

Without CUDA nothing is measured and the result says so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import Wav2Vec2ForPreTraining
from transformers.utils import is_flash_attn_2_available

from hf_seqlen.args import DataArguments
from hf_seqlen.collate import model_inputs

from .common import demo_split, load_config, real_loader, synthetic_batch
from .profiles import Profile

NO_GPU = "not measured: no GPU on this machine"
CROP_SECONDS = 2.0


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    bf16: bool
    attention: str
    fused_adamw: bool
    compile: bool = False


# What the loader measurements train with.
BEST = Variant("bf16 autocast, SDPA, fused AdamW", True, "sdpa", True)


def variants(profile: Profile) -> list[Variant]:
    found = [
        Variant("fp32, eager attention", False, "eager", False),
        Variant("bf16 autocast, eager attention", True, "eager", False),
        Variant("bf16 autocast, SDPA", True, "sdpa", False),
        BEST,
    ]
    if is_flash_attn_2_available():
        found.append(Variant("bf16 autocast, flash attention 2, fused AdamW", True, "flash_attention_2", True))
    if profile.gpu_compile:
        found.append(Variant("bf16 autocast, SDPA, fused AdamW, torch.compile", True, "sdpa", True, compile=True))
    return found


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_matmul_flops(device: torch.device) -> float:
    """FLOP/s of a large bf16 matrix product: the practical peak MFU is measured against."""
    n = 8192 if device.type == "cuda" else 512
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


def build(profile: Profile, variant: Variant, device: torch.device):
    config = load_config(profile.gpu_config)
    config._attn_implementation = variant.attention
    torch.manual_seed(0)
    model = Wav2Vec2ForPreTraining(config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=variant.fused_adamw)
    forward = torch.compile(model) if variant.compile else model
    return model, forward, optimizer


def step(forward, optimizer, inputs: dict, device: torch.device, bf16: bool) -> None:
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with autocast:
        loss = forward(**inputs).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def step_flops(profile: Profile, inputs: dict, device: torch.device) -> int:
    """FLOPs of one forward and backward, counted by torch (the same for every variant)."""
    model, forward, _ = build(profile, Variant("count", False, "eager", False), device)
    with FlopCounterMode(display=False) as counter:
        forward(**inputs).loss.backward()
    del model
    return counter.get_total_flops()


def measure_variant(profile: Profile, variant: Variant, inputs: dict, device: torch.device, flops: int,
                    peak: float, audio_seconds: float) -> dict:
    try:
        model, forward, optimizer = build(profile, variant, device)
        for _ in range(3):  # warm-up; compiles when asked
            step(forward, optimizer, inputs, device, variant.bf16)
        synchronize(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        for _ in range(profile.gpu_steps):
            step(forward, optimizer, inputs, device, variant.bf16)
        synchronize(device)
    except Exception as error:  # a variant this machine cannot run is reported, not fatal
        return {"variant": variant.name, "status": f"failed: {type(error).__name__}: {error}"[:300]}
    seconds = (time.perf_counter() - started) / profile.gpu_steps
    return {
        "variant": variant.name,
        "status": "measured",
        "step_seconds": seconds,
        "audio_seconds_per_second": audio_seconds / seconds,
        "mfu": flops / seconds / peak,
        "peak_gpu_memory_mb": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None,
    }


def data_wait(profile: Profile, device: torch.device, workers: int, pin: bool) -> dict:
    """Share of wall time the step spends blocked on the next batch, over the real loader."""
    data_args = DataArguments(max_duration=CROP_SECONDS, dataloader_num_workers=workers)
    ours, sampler = real_loader(demo_split(data_args), data_args, profile.gpu_config, profile.gpu_batch_size,
                                device=device.type)
    loader = torch.utils.data.DataLoader(ours.dataset, batch_sampler=sampler, collate_fn=ours.collate_fn,
                                         num_workers=workers, pin_memory=pin,
                                         persistent_workers=ours.persistent_workers and workers > 0)
    _, forward, optimizer = build(profile, BEST, device)
    steps = min(profile.gpu_steps * 2, len(sampler))
    batches = iter(loader)
    step(forward, optimizer, model_inputs(next(batches), device), device, BEST.bf16)  # warm-up
    synchronize(device)
    waited = 0.0
    started = time.perf_counter()
    for _ in range(steps - 1):
        asked = time.perf_counter()
        batch = next(batches)
        waited += time.perf_counter() - asked
        step(forward, optimizer, model_inputs(batch, device), device, BEST.bf16)
    synchronize(device)
    total = time.perf_counter() - started
    return {"workers": workers, "pin_memory": pin, "data_wait_share": waited / total,
            "seconds_per_step": total / max(steps - 1, 1)}


def measure(profile: Profile, device: torch.device) -> dict:
    batch = synthetic_batch(profile.gpu_config, CROP_SECONDS, profile.gpu_batch_size)
    inputs = model_inputs(batch, device)
    peak = peak_matmul_flops(device)
    flops = step_flops(profile, inputs, device)
    results = [measure_variant(profile, v, inputs, device, flops, peak, batch["audio_seconds"])
               for v in variants(profile)]
    return {
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "config_name": profile.gpu_config,
        "crop_seconds": CROP_SECONDS,
        "batch_size": profile.gpu_batch_size,
        "peak_bf16_matmul_tflops": peak / 1e12,
        "flops_per_step": flops,
        "variants": results,
        "loader": [data_wait(profile, device, w, pin) for w in profile.loader_workers for pin in (False, True)],
    }


def run(profile: Profile, workdir: Path) -> dict:
    if not torch.cuda.is_available():
        return {"status": NO_GPU}
    return {"status": "measured", **measure(profile, torch.device("cuda"))}
