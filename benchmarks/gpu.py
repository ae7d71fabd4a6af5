"""`python -m benchmarks --gpu`: what pre-training gets out of one GPU, in at most 8 minutes on an H100
(benchmarks/gpu_run.sh installs what the machine lacks and holds the whole call to that).

Every figure is of the training loop a user runs (`benchmarks.gpu_loop`: `build_run`, then `pretrain.loop.update` over
the run's own loader), wav2vec2-base in bf16. MFU: FLOPs as the run's cost meter counts them (FlopCounterMode)
over the measured rate of a large bf16 matrix product. Three parts, each in a process of its own under its own
time limit (the profile's budgets), so a hang, a crash or a slow part is recorded and the others still run;
results/gpu.json is rewritten as each point lands.

  curve    for each crop length, MFU by audio seconds per batch: the default batch, then doubling until memory
           runs out or MFU stops rising; step time, peak memory and the share of time spent waiting for data
  levers   at 2 s crops, the default batch and the curve's best: what each lever moves, on the same card in the
           same call: the loop's old host round trips (restored as three synchronisations per update), AdamW
           fused against foreach, cudnn.benchmark flipped
  compile  --torch_compile at 2 s crops and the curve's best batch, its compile time included

`--gpu --tiny` runs the same code on the CPU with wav2vec2-tiny in a few minutes of two cores, so the script
cannot rot (a test runs it); its numbers mean nothing and it writes under benchmarks/runs/.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from .common import REPO
from .gpu_report import write_section
from .profiles import GPU_PROFILES, GpuProfile

GOALS = {"mfu_at_2s": 0.40, "mfu_at_1s_and_16s": 0.30, "data_wait_share": 0.02}
LEVER_CROP = 2.0


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


# --------------------------------------------------------------------------- the parts (each in its own process)


def measured_point(profile: GpuProfile, context: dict, crop: float, batch: float, **options) -> list[dict]:
    """A run built and measured (`gpu_loop.measured_run`); running out of memory is a finding, not a failure."""
    from .gpu_loop import free_memory, measured_run, out_of_memory

    try:
        found = measured_run(profile, Path(context["corpus"]), crop, batch, context["peak_flops"], **options)
    except RuntimeError as error:  # torch.OutOfMemoryError is one
        if not out_of_memory(error):
            raise
        found = [{"status": "out of memory"}]
    free_memory()
    return found


def part_curve(profile: GpuProfile, deadline: Deadline, emit, context: dict) -> None:
    for crop in profile.crop_seconds:
        best = None
        for batch in (profile.default_batch_seconds, *profile.larger_batch_seconds):
            if not deadline.allows_another():
                emit({"crop_seconds": crop, "batch_seconds": batch, "status": "skipped: the part's time ran out"})
                break
            with deadline.point():
                [found] = measured_point(profile, context, crop, batch)
            emit({"crop_seconds": crop, "batch_seconds": batch, **found})
            if found["status"] != "measured" or (best and found["mfu"] < best["mfu"] * (1 + profile.curve_min_gain)):
                break
            best = found if best is None or found["mfu"] > best["mfu"] else best


def lever_batches(profile: GpuProfile, context: dict) -> list[float]:
    """The default batch and, where the curve found a better one at 2 s crops, that one."""
    best = context["best_batch_seconds"].get(str(LEVER_CROP))
    return [profile.default_batch_seconds] + ([best] if best and best != profile.default_batch_seconds else [])


def part_levers(profile: GpuProfile, deadline: Deadline, emit, context: dict) -> None:
    """A run measured as the loop runs, with the old round trips and with cudnn.benchmark flipped; then a run with
    the other AdamW."""
    from .gpu_loop import lever_variants

    for batch in lever_batches(profile, context):
        if not deadline.allows_another():
            emit({"batch_seconds": batch, "status": "skipped: the part's time ran out"})
            continue
        with deadline.point():
            found = measured_point(profile, context, LEVER_CROP, batch, how=lever_variants)
            for variant in found:
                emit({"batch_seconds": batch, **variant})
            other = "adamw_torch" if found[0].get("optimizer") == "fused" else "adamw_torch_fused"
            [variant] = measured_point(profile, context, LEVER_CROP, batch, optim=other)
            emit({"lever": f"AdamW {variant.get('optimizer', other)}", "batch_seconds": batch, **variant})


def part_compile(profile: GpuProfile, deadline: Deadline, emit, context: dict) -> None:
    batch = lever_batches(profile, context)[-1]
    [found] = measured_point(
        profile, context, LEVER_CROP, batch, torch_compile=True, torch_compile_backend=profile.compile_backend
    )
    emit({"lever": f"--torch_compile ({profile.compile_backend})", "batch_seconds": batch, **found})


PARTS = {"curve": part_curve, "levers": part_levers, "compile": part_compile}


def part_main(part: str, profile_name: str, lines: Path, seconds: float, context: dict) -> None:
    """A part's process: each finding is one JSON line, flushed at once, so a killed part keeps its points."""
    profile = GPU_PROFILES[profile_name]
    with lines.open("a") as out:

        def emit(found: dict) -> None:
            out.write(json.dumps(found) + "\n")
            out.flush()

        PARTS[part](profile, Deadline(seconds), emit, context)


# --------------------------------------------------------------------------- running the parts


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def run_part(part: str, profile: GpuProfile, seconds: float, workdir: Path, save, context: dict) -> dict:
    """Start a part's process; every second, save what it found so far. Stopped at its time limit."""
    lines = workdir / f"{part}.jsonl"
    command = [
        sys.executable,
        "-m",
        "benchmarks.gpu",
        part,
        profile.name,
        str(lines),
        str(seconds),
        json.dumps(context),
    ]
    log = (workdir / f"{part}.log").open("w")
    started = time.monotonic()
    # A session of its own, so stopping the part also stops what it started (its loader's workers).
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


def best_batches(curve: dict) -> dict[str, float]:
    """Per crop length (as a string, JSON's key), the measured batch with the highest MFU."""
    best: dict[str, dict] = {}
    for point in curve.get("found", []):
        if point.get("status") == "measured" and "crop_seconds" in point:
            key = str(point["crop_seconds"])
            if key not in best or point["mfu"] > best[key]["mfu"]:
                best[key] = point
    return {crop: point["batch_seconds"] for crop, point in best.items()}


def device_name(profile: GpuProfile, about: dict) -> str:
    if profile.device == "cuda":
        return torch.cuda.get_device_name(0)
    return f"CPU: {about['cpu_model']}"


def run(profile: GpuProfile, output_dir: Path) -> Path:
    """The corpus and the peak once, then every part in order; results/gpu.json after every second of progress,
    the RESULTS.md section at the end."""
    from . import machine
    from .common import write_json
    from .gpu_loop import card_memory_mib, make_corpus, peak_matmul_flops

    about, device = machine.describe(), torch.device(profile.device)
    results = {
        "status": "measured",
        "profile": profile.name,
        "device": device_name(profile, about),
        "card_memory_mib": card_memory_mib(device),
        "peak_bf16_matmul_flops": peak_matmul_flops(device, profile.matmul_size),
        "config_name": profile.config_name,
        "mixed_precision": profile.mixed_precision,
        "default_batch_seconds": profile.default_batch_seconds,
        "budgets": dict(profile.budgets),
        "goals": GOALS,
        "parts": {},
    }
    started = time.perf_counter()

    def save() -> None:
        write_json(
            output_dir / "results",
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
        context = {
            "corpus": str(make_corpus(profile, Path(workdir) / "corpus")),
            "peak_flops": results["peak_bf16_matmul_flops"],
        }
        for part, seconds in profile.budgets:
            context["best_batch_seconds"] = best_batches(results["parts"].get("curve", {}))
            print(f"[benchmarks --gpu] {part} (at most {seconds:g} s) ...", file=sys.stderr, flush=True)
            results["parts"][part] = {"status": "running"}
            results["parts"][part] = run_part(part, profile, seconds, Path(workdir), save, context)
            print(f"[benchmarks --gpu] {part}: {results['parts'][part]['status'][:200]}", file=sys.stderr, flush=True)
            save()
    results["best_batch_seconds"] = best_batches(results["parts"].get("curve", {}))
    save()
    write_section(output_dir / "RESULTS.md", results)
    return output_dir / "results" / "gpu.json"


if __name__ == "__main__":
    part_main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), float(sys.argv[4]), json.loads(sys.argv[5]))
