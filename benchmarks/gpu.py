"""`python -m benchmarks --gpu`: what pre-training costs on one GPU, in at most six minutes on an H100.

Four parts, each in a process of its own under its own time limit (BUDGETS), so a hang or a crash
in one is recorded and the others still run; results/gpu.json is rewritten as each point lands.

  scaling    wav2vec2-base, crops of 1-16 s, the same audio seconds per batch, bf16 autocast, SDPA,
             fused AdamW: step time, audio seconds per second, peak memory, model FLOPs utilisation
             (FlopCounterMode FLOPs of a step over the measured rate of a large bf16 matrix product)
  data_wait  share of the step spent waiting for the next batch: the default loader settings (on a GPU,
             4 persistent workers, pinned memory) and decoding in the training process (no workers),
             real loader on the demo corpus
  reference  ours against the usual whole-file approach (`benchmarks.reference`), base at 2 s
  precision  eager fp32, bf16 autocast, bf16 autocast + torch.compile (compile time included)

`--gpu --tiny` runs the same code on the CPU with wav2vec2-tiny in a few minutes of two cores, so the
script cannot rot (a test runs it); its numbers mean nothing and it writes under benchmarks/runs/.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from .common import REPO, demo_split, load_config, real_loader, run_fresh_process, synthetic_batch

GOALS = {"mfu": 0.40, "data_wait_share": 0.02, "throughput_ratio": 1.5}


@dataclasses.dataclass(frozen=True)
class GpuProfile:
    name: str
    device: str
    config_name: str
    budgets: tuple[tuple[str, float], ...]  # (part, seconds), in the order they run; compile last
    crop_seconds: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
    batch_seconds: float = 64.0  # audio per batch at every crop length
    warmup_steps: int = 3
    steps: int = 10
    loader_steps: int = 40
    loader_workers: tuple[int | None, ...] = (None, 0)  # None: the default for the device; 0: decoding in the loop
    reference_batch_size: int = 8  # the training default, as a user runs it
    reference_warmup: int = 3
    reference_steps: int = 20
    matmul_size: int = 8192
    compile_backend: str = "inductor"
    bf16: bool = True  # autocast in the scaling and data-wait parts


# 340 s of parts, 20 s left for starting Python and writing: under 6 minutes on one H100 (an estimate
# until a run records the parts' real seconds in results/gpu.json).
GPU = GpuProfile(
    "gpu", "cuda", "wav2vec2-base", budgets=(("scaling", 80), ("data_wait", 45), ("reference", 70), ("precision", 145))
)
# A few minutes on two cores. fp32 outside the precision part (a CPU without bf16 instructions runs
# bf16 convolutions some 30x slower), and Dynamo's tracing without a backend stands in for inductor,
# whose C++ kernels take minutes to compile on a CPU.
TINY = GpuProfile(
    "gpu-tiny",
    "cpu",
    "wav2vec2-tiny",
    budgets=(("scaling", 120), ("data_wait", 120), ("reference", 150), ("precision", 150)),
    crop_seconds=(0.5, 1.0, 2.0),
    batch_seconds=2.0,
    warmup_steps=1,
    steps=1,
    loader_steps=3,
    loader_workers=(None, 1),
    reference_batch_size=4,
    reference_warmup=1,
    reference_steps=2,
    matmul_size=256,
    compile_backend="eager",
    bf16=False,
)
PROFILES = {p.name: p for p in (GPU, TINY)}


# --------------------------------------------------------------------------- measuring (in a part's process)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak_memory_mib(device: torch.device) -> float | None:
    """Peak GPU memory since the last reset; None on a CPU (no per-step peak there)."""
    return torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None


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


def step_flops(model, inputs: dict) -> int:
    """FLOPs of one forward and backward as the training loop counts them (`hf_seqlen.flops`)."""
    from hf_seqlen.flops import flop_counter

    with flop_counter() as counter:
        model(**inputs).loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def build(config_name: str, device: torch.device, compile_backend: str | None = None):
    """wav2vec 2.0 as `pretrain` builds it with SDPA attention and fused AdamW (where the device has it)."""
    from transformers import Wav2Vec2ForPreTraining

    config = load_config(config_name)
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    model = Wav2Vec2ForPreTraining(config).to(device).train()
    if compile_backend:
        model.compile(backend=compile_backend)  # as --torch_compile does
    return model, torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)


def train_step(model, optimizer, inputs: dict, device: torch.device, bf16: bool) -> None:
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with autocast:
        loss = model(**inputs).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def timed_steps(model, optimizer, inputs: dict, device: torch.device, bf16: bool, steps: int) -> float:
    """Median seconds of a step, synchronised each step as the training loop is (it reads the loss)."""
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        train_step(model, optimizer, inputs, device, bf16)
        synchronize(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def batch_inputs(profile: GpuProfile, seconds: float, device: torch.device) -> tuple[dict, float]:
    """Full-length crops (no padding), `batch_seconds` of audio; the model inputs and their seconds."""
    from hf_seqlen.collate import model_inputs

    batch = synthetic_batch(profile.config_name, seconds, max(1, round(profile.batch_seconds / seconds)))
    return model_inputs(batch, device), batch["audio_seconds"]


class Deadline:
    """A part's time left: a point starts only if the slowest point so far would still fit."""

    def __init__(self, seconds: float):
        self.end, self.slowest = time.monotonic() + seconds, 0.0

    def allows_another(self) -> bool:
        return time.monotonic() + self.slowest < self.end

    @contextlib.contextmanager
    def point(self):
        started = time.monotonic()
        yield
        self.slowest = max(self.slowest, time.monotonic() - started)


def part_scaling(profile: GpuProfile, device: torch.device, deadline: Deadline, emit) -> None:
    peak = peak_matmul_flops(device, profile.matmul_size)
    emit({"peak_bf16_matmul_flops": peak})
    model, optimizer = build(profile.config_name, device)
    for seconds in profile.crop_seconds:
        if not deadline.allows_another():
            emit({"crop_seconds": seconds, "status": "skipped: the part's time ran out"})
            continue
        with deadline.point():
            inputs, audio = batch_inputs(profile, seconds, device)
            flops = step_flops(model, inputs)
            for _ in range(profile.warmup_steps):
                train_step(model, optimizer, inputs, device, profile.bf16)
            synchronize(device)
            reset_peak_memory(device)
            step = timed_steps(model, optimizer, inputs, device, profile.bf16, profile.steps)
            emit(
                {
                    "crop_seconds": seconds,
                    "status": "measured",
                    "bf16": profile.bf16,
                    "batch_size": inputs["input_values"].shape[0],
                    "step_seconds": step,
                    "audio_seconds_per_second": audio / step,
                    "peak_memory_mib": peak_memory_mib(device),
                    "flops_per_step": flops,
                    "mfu": flops / step / peak,
                }
            )


def part_data_wait(profile: GpuProfile, device: torch.device, deadline: Deadline, emit) -> None:
    """The loop's own loader (`pretrain_data.make_loader`) with the training defaults (8 crops <= 2 s)."""
    from hf_seqlen.args import DataArguments, PretrainingArguments
    from hf_seqlen.collate import model_inputs

    from .reference import endless

    batch_size = PretrainingArguments().per_device_train_batch_size
    model, optimizer = build(profile.config_name, device)
    for workers in profile.loader_workers:
        if not deadline.allows_another():
            emit({"workers": workers, "status": "skipped: the part's time ran out"})
            continue
        with deadline.point():
            data_args = DataArguments(dataloader_num_workers=workers)
            loader, sampler = real_loader(
                demo_split(data_args), data_args, profile.config_name, batch_size, device=device.type
            )
            default, workers = workers is None, loader.num_workers
            batches = endless(loader, sampler)
            train_step(model, optimizer, model_inputs(next(batches), device), device, profile.bf16)  # warm-up
            synchronize(device)
            waited = audio = 0.0
            started = time.perf_counter()
            for _ in range(profile.loader_steps):
                asked = time.perf_counter()
                batch = next(batches)
                waited += time.perf_counter() - asked
                train_step(model, optimizer, model_inputs(batch, device), device, profile.bf16)
                synchronize(device)
                audio += batch["audio_seconds"]
            total = time.perf_counter() - started
            emit(
                {
                    "workers": workers,
                    "default": default,
                    "status": "measured",
                    "pin_memory": loader.pin_memory,
                    "persistent_workers": loader.persistent_workers,
                    "batch_size": batch_size,
                    "max_duration": data_args.max_duration,
                    "data_wait_share": waited / total,
                    "step_seconds": total / profile.loader_steps,
                    "audio_seconds_per_second": audio / total,
                }
            )


def reference_arm(profile: GpuProfile, arm: str) -> dict:
    """One arm of `benchmarks.reference` in a fresh process (its peak memory is its own)."""
    return run_fresh_process(
        "reference",
        {
            "arm": arm,
            "config_name": profile.config_name,
            "max_duration": 2.0,
            "batch_size": profile.reference_batch_size,
            "warmup": profile.reference_warmup,
            "steps": profile.reference_steps,
            "seed": 0,
        },
    )


def part_reference(profile: GpuProfile, device: torch.device, deadline: Deadline, emit) -> None:
    for arm in ("ours", "reference"):
        if not deadline.allows_another():
            emit({"arm": arm, "status": "skipped: the part's time ran out"})
            continue
        with deadline.point():
            found = reference_arm(profile, arm)
            memory = found["peak_gpu_memory_mb"] if device.type == "cuda" else found["peak_rss_mb"]
            emit(
                {
                    "arm": arm,
                    "status": "measured",
                    "audio_seconds_per_second": found["audio_seconds_per_second"],
                    "padding_share": found["padding_share"],
                    "peak_memory_mib": memory,
                    "memory_measure": "peak GPU memory" if device.type == "cuda" else "peak RSS",
                }
            )


PRECISIONS = (
    ("eager fp32", False, False),
    ("eager bf16 autocast", True, False),
    ("bf16 autocast + torch.compile", True, True),
)


def part_precision(profile: GpuProfile, device: torch.device, deadline: Deadline, emit) -> None:
    inputs, audio = batch_inputs(profile, 2.0, device)
    peak = peak_matmul_flops(device, profile.matmul_size)
    flops = step_flops(build(profile.config_name, device)[0], inputs)
    emit({"peak_bf16_matmul_flops": peak, "flops_per_step": flops, "batch_size": inputs["input_values"].shape[0]})
    for name, bf16, compiled in PRECISIONS:
        if not deadline.allows_another():
            emit({"variant": name, "status": "skipped: the part's time ran out"})
            continue
        with deadline.point():
            model, optimizer = build(profile.config_name, device, profile.compile_backend if compiled else None)
            started = time.perf_counter()
            train_step(model, optimizer, inputs, device, bf16)  # compiles, when compiling
            synchronize(device)
            first_step = time.perf_counter() - started
            for _ in range(profile.warmup_steps):
                train_step(model, optimizer, inputs, device, bf16)
            synchronize(device)
            reset_peak_memory(device)
            step = timed_steps(model, optimizer, inputs, device, bf16, profile.steps)
            emit(
                {
                    "variant": name,
                    "status": "measured",
                    "first_step_seconds": first_step,
                    "step_seconds": step,
                    "audio_seconds_per_second": audio / step,
                    "peak_memory_mib": peak_memory_mib(device),
                    "mfu": flops / step / peak,
                    "compile_backend": profile.compile_backend if compiled else None,
                }
            )
            del model, optimizer
            if device.type == "cuda":
                torch.cuda.empty_cache()


PARTS = {"scaling": part_scaling, "data_wait": part_data_wait, "reference": part_reference, "precision": part_precision}


def part_main(part: str, profile_name: str, lines: Path, seconds: float) -> None:
    """A part's process: each finding is one JSON line, flushed at once, so a killed part keeps its points."""
    profile = PROFILES[profile_name]
    with lines.open("a") as out:

        def emit(found: dict) -> None:
            out.write(json.dumps(found) + "\n")
            out.flush()

        PARTS[part](profile, torch.device(profile.device), Deadline(seconds), emit)


# --------------------------------------------------------------------------- running the parts


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def run_part(part: str, profile: GpuProfile, seconds: float, workdir: Path, save) -> dict:
    """Start a part's process; every second, save what it found so far. Stopped at its time limit."""
    lines = workdir / f"{part}.jsonl"
    command = [sys.executable, "-m", "benchmarks.gpu", part, profile.name, str(lines), str(seconds)]
    log = (workdir / f"{part}.log").open("w")
    started = time.monotonic()
    # A session of its own, so stopping the part also stops what it started (the reference's arms).
    process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    result = {"status": "running", "budget_seconds": seconds, "found": []}
    while process.poll() is None and time.monotonic() - started < seconds:
        time.sleep(1)
        result["found"] = read_lines(lines)
        save()
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        result["status"] = f"stopped at its {seconds:g} s limit"
    elif process.returncode != 0:
        tail = (workdir / f"{part}.log").read_text()[-1500:]
        result["status"] = f"failed (exit {process.returncode}): {tail}"
    else:
        result["status"] = "measured"
    log.close()
    result["seconds"] = time.monotonic() - started
    result["found"] = read_lines(lines)
    return result


def device_name(profile: GpuProfile, about: dict) -> str:
    if profile.device == "cuda":
        return torch.cuda.get_device_name(0)
    return f"CPU: {about['cpu_model']}"


def run(profile: GpuProfile, output_dir: Path) -> Path:
    """All parts in order; results/gpu.json after every second of progress, the RESULTS.md section at the end."""
    import tempfile

    from . import machine
    from .common import write_json

    about = machine.describe()
    results_dir = output_dir / "results"
    results = {
        "status": "measured",
        "profile": profile.name,
        "device": device_name(profile, about),
        "config_name": profile.config_name,
        "batch_seconds": profile.batch_seconds,
        "budgets": dict(profile.budgets),
        "goals": GOALS,
        "parts": {},
    }
    started = time.perf_counter()

    def save() -> None:
        write_json(
            results_dir,
            "gpu",
            {
                "profile": profile.name,
                "machine": about,
                "measured_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                "seconds": time.perf_counter() - started,
                "results": results,
            },
        )

    with tempfile.TemporaryDirectory(prefix="hf_seqlen_gpu_") as workdir:
        for part, seconds in profile.budgets:
            print(f"[benchmarks --gpu] {part} (at most {seconds:g} s) ...", file=sys.stderr, flush=True)
            results["parts"][part] = {"status": "running"}
            results["parts"][part] = run_part(part, profile, seconds, Path(workdir), save)
            print(f"[benchmarks --gpu] {part}: {results['parts'][part]['status'][:200]}", file=sys.stderr, flush=True)
            save()
    write_section(output_dir / "RESULTS.md", results)
    return results_dir / "gpu.json"


# --------------------------------------------------------------------------- the RESULTS.md section

HEADING = "## GPU"


def _measured(part: dict, key: str | None = None) -> list[dict]:
    return [f for f in part.get("found", []) if f.get("status") == "measured" and (key is None or key in f)]


def _mib(value) -> str:
    return "—" if value is None else f"{value:.0f}"


def _rate(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(
        ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(row) + " |" for row in rows]
    )


def summary(results: dict) -> dict:
    """The three figures the goals are about, where they were measured."""
    parts = results["parts"]
    found = {}
    at_2s = [p for p in _measured(parts.get("scaling", {})) if p["crop_seconds"] == 2.0 and p["bf16"]]
    if at_2s:
        found["mfu"] = at_2s[0]["mfu"]
    # Records made before the default chose workers by device have no "default": theirs was 0 workers.
    default_loader = [p for p in _measured(parts.get("data_wait", {})) if p.get("default", p["workers"] == 0)]
    if default_loader:
        found["data_wait_share"] = default_loader[0]["data_wait_share"]
    arms = {p["arm"]: p for p in _measured(parts.get("reference", {}))}
    if {"ours", "reference"} <= arms.keys():
        found["throughput_ratio"] = (
            arms["ours"]["audio_seconds_per_second"] / arms["reference"]["audio_seconds_per_second"]
        )
        found["memory_ratio"] = arms["ours"]["peak_memory_mib"] / arms["reference"]["peak_memory_mib"]
    return found


def headline(results: dict) -> str:
    found = summary(results)
    figures = []
    if "mfu" in found:
        figures.append(f"MFU **{found['mfu']:.1%}** for {results['config_name']} at 2 s in bf16 (goal >= 40%)")
    if "data_wait_share" in found:
        figures.append(
            f"waiting for data **{found['data_wait_share']:.1%}** of the step with the default loader (goal <= 2%)"
        )
    if "throughput_ratio" in found:
        figures.append(
            f"**{found['throughput_ratio']:.2f}x** the usual approach's throughput (goal >= 1.5x) at "
            f"{found['memory_ratio']:.2f}x its peak memory"
        )
    return f"- GPU ({results['device']}): " + ("; ".join(figures) or "nothing measured, see below") + "."


def section(results: dict) -> str:
    """The body of RESULTS.md's GPU section (what report.write shows under its heading)."""
    parts = results["parts"]
    memory = "peak GPU memory (MiB)" if results["profile"] == "gpu" else "peak memory (MiB, GPU only)"
    out = [
        f"Command: `python -m benchmarks --gpu{' --tiny' if results['profile'] != 'gpu' else ''}` on "
        f"**{results['device']}**, {results['config_name']}. Each part ran in its own process under its "
        "time limit; a part that failed or ran out of time says so and keeps what it measured.",
        "",
        headline(results),
        "",
        _table(
            ["part", "status", "seconds (limit)"],
            [
                [
                    name,
                    part["status"].splitlines()[0][:120] if part.get("status") else "not run",
                    f"{part.get('seconds', 0):.0f} ({part.get('budget_seconds', 0):g})",
                ]
                for name, part in parts.items()
            ],
        ),
    ]
    scaling = parts.get("scaling", {})
    points = _measured(scaling, "crop_seconds")
    if points:
        peak = next((f["peak_bf16_matmul_flops"] for f in scaling["found"] if "peak_bf16_matmul_flops" in f), None)
        precision = "bf16 autocast" if points[0]["bf16"] else "fp32"
        out += [
            "",
            f"**Cost curve**: {results['batch_seconds']:g} s of audio per batch, {precision}, SDPA, fused "
            f"AdamW. MFU: FLOPs counted by FlopCounterMode (forward + backward) over the measured "
            f"{peak / 1e12:.1f} TFLOP/s of a large bf16 matrix product on this device.",
            "",
            _table(
                ["crop (s)", "crops per batch", "step (s)", "audio s / s", memory, "GFLOP per step", "MFU"],
                [
                    [
                        f"{p['crop_seconds']:g}",
                        str(p["batch_size"]),
                        f"{p['step_seconds']:.4f}",
                        _rate(p["audio_seconds_per_second"]),
                        _mib(p["peak_memory_mib"]),
                        f"{p['flops_per_step'] / 1e9:.1f}",
                        f"{p['mfu']:.2%}",
                    ]
                    for p in points
                ],
            ),
        ]
    loader = _measured(parts.get("data_wait", {}), "workers")
    if loader:
        out += [
            "",
            "**Waiting for data**: the training loop's loader on the demo corpus, 8 crops <= 2 s, each step "
            "synchronised as the loop's is; time blocked on the next batch over the whole step.",
            "",
            _table(
                ["workers", "persistent", "pinned memory", "waiting for data", "step (s)", "audio s / s"],
                [
                    [
                        f"{p['workers']}{' (the default)' if p.get('default', p['workers'] == 0) else ''}",
                        str(p["persistent_workers"]),
                        str(p["pin_memory"]),
                        f"{p['data_wait_share']:.1%}",
                        f"{p['step_seconds']:.4f}",
                        _rate(p["audio_seconds_per_second"]),
                    ]
                    for p in loader
                ],
            ),
        ]
    arms = _measured(parts.get("reference", {}), "arm")
    if arms:
        out += [
            "",
            "**Against the usual approach** (`benchmarks/reference.py`: whole files decoded, first 2 s kept, "
            "random fixed-size batches) on the demo corpus, fp32, one fresh process per arm:",
            "",
            _table(
                ["arm", "audio s / s", "padding", "peak memory (MiB)"],
                [
                    [
                        p["arm"],
                        _rate(p["audio_seconds_per_second"]),
                        f"{p['padding_share']:.0%}",
                        f"{_mib(p['peak_memory_mib'])} ({p['memory_measure']})",
                    ]
                    for p in arms
                ],
            ),
        ]
    precision = parts.get("precision", {})
    variants = _measured(precision, "variant")
    if variants:
        out += [
            "",
            "**Precision and compile** at 2 s crops: the first step includes compiling.",
            "",
            _table(
                ["variant", "first step (s)", "step (s)", "audio s / s", memory, "MFU"],
                [
                    [
                        p["variant"] + (f" ({p['compile_backend']})" if p["compile_backend"] else ""),
                        f"{p['first_step_seconds']:.1f}",
                        f"{p['step_seconds']:.4f}",
                        _rate(p["audio_seconds_per_second"]),
                        _mib(p["peak_memory_mib"]),
                        f"{p['mfu']:.2%}",
                    ]
                    for p in variants
                ],
            ),
        ]
    return "\n".join(out)


def write_section(path: Path, results: dict) -> Path:
    """Put the GPU section in RESULTS.md, replacing the one there; the CPU sections stay as they are."""
    block = f"{HEADING}\n\n{section(results)}\n"
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    if HEADING + "\n" in text:
        before, rest = text.split(HEADING + "\n", 1)
        after = rest[rest.find("\n## ") :] if "\n## " in rest else ""
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)
    return path


if __name__ == "__main__":
    part_main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), float(sys.argv[4]))
