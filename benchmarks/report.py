"""RESULTS.md: the machine, the headline numbers, one table per measurement, and the fixes made
with their before and after numbers (kept by hand in fixes.md, since "before" is old code)."""

from __future__ import annotations

from pathlib import Path

from .gpu import headline as gpu_headline
from .gpu import section as gpu_section

FIXES = Path(__file__).resolve().parent / "fixes.md"
NOT_RUN = "not run in this invocation (no results file)"
PLOT_NAME = "scaling.png"


def _range(stats: dict, fmt: str = "{:.2f}", suffix: str = "") -> str:
    """median (min–max): the spread a shared machine's noise leaves."""
    f = lambda v: fmt.format(v) + suffix  # noqa: E731
    return f"{f(stats['median'])} ({f(stats['min'])}–{f(stats['max'])})"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def machine_section(machine: dict, profile: str, command: str) -> str:
    gpus = ", ".join(machine["gpus"]) or "none"
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    where = "GPU: " + gpus if machine["gpus"] else (
        f"**CPU numbers on a {machine['cpu_cores']}-core machine**, where other work can share the cores: "
        "every figure is the median over rounds in which the compared arms alternated (A B A B ...), "
        "with the min–max of the rounds in brackets")
    return "\n".join([
        f"Command: `{command}` (profile `{profile}`). {where}.",
        "",
        _table(["", ""], [
            ["CPU", f"{machine['cpu_model']}, {machine['cpu_cores']} cores ({machine['cores_usable']} usable, "
                    f"torch threads {machine['torch_threads']})"],
            ["memory", f"{machine['memory_gib']:.1f} GiB" if machine["memory_gib"] else "unknown"],
            ["GPU", gpus + (f" (CUDA {machine['cuda']})" if machine["gpus"] else "")],
            ["platform", machine["platform"]],
            ["libraries", versions],
        ]),
    ])


def _decode_at(data: dict, fmt: str, crop: float) -> dict | None:
    return next((d for d in data["decoding"][fmt] if d["crop_seconds"] == crop), None)


def headline(results: dict) -> str:
    lines = []
    data = results.get("data_pipeline")
    if data:
        for fmt in data["decoding"]:
            at2 = _decode_at(data, fmt, 2.0)
            if at2:
                lines.append(f"- Data pipeline, 2 s crops of {data['source_seconds']:g} s {fmt} files: crop-aware "
                             f"decoding is **{_range(at2['speedup'], suffix='x')}** faster than decoding the whole "
                             "file (goal >= 4x).")
    overhead = results.get("overhead")
    if overhead:
        lines.append(f"- Overhead of the real training loop over bare forward + backward + AdamW on pre-built "
                     f"tensors ({overhead['config_name']}, 2 s crops, 8 per batch): "
                     f"**{_range(overhead['overhead_percent'], '{:.1f}', '%')}** (goal <= 5%).")
    reference = results.get("reference")
    if reference:
        for c in reference["comparisons"]:
            lines.append(f"- Against the usual approach ({c['config_name']}, {c['max_duration']:g} s, "
                         f"{c['batch_size']} per batch): audio-seconds per second ours / usual "
                         f"**{_range(c['throughput_ratio'], suffix='x')}** (goal >= 1.0x); peak memory ours / usual "
                         f"**{_range(c['peak_memory_ratio'], suffix='x')}** (goal <= 1.0x). In-loop throughput on "
                         "the demo corpus against our own rendering of the usual approach, not a whole run; see its "
                         "section for what the memory figure can and cannot see.")
    gpu = results.get("gpu")
    if gpu:
        lines.append(gpu_headline(gpu))
    return "\n".join(lines)


def data_section(data: dict) -> str:
    rows = [
        [fmt, f"{d['crop_seconds']:g}", _range(d["crop_aware_ms_per_sample"]),
         _range(d["whole_file_ms_per_sample"]), _range(d["speedup"], suffix="x")]
        for fmt, crops in data["decoding"].items() for d in crops
    ]
    loader = data["loader"]
    loader_rows = [[str(w["workers"]), _range(w["batches_per_second"], "{:.1f}"),
                    _range(w["first_batch_seconds"], "{:.3f}")] for w in loader["workers"]]
    return "\n\n".join([
        f"Decoding a crop of a {data['source_seconds']:g} s file, per sample ({data['files']} generated files, "
        "random offsets): `hf_seqlen.audio.decode_range` against `soundfile.read` of the whole file then a slice.",
        _table(["format", "crop (s)", "crop-aware (ms)", "whole file (ms)", "speed-up"], rows),
        f"The loader `pretrain` builds (`make_loader`: CropBatchSampler -> CroppedAudio -> PretrainingCollator) "
        f"over the demo corpus, {loader['max_duration']:g} s crops, {loader['batch_size']} per batch. "
        "Steady batches per second after the first batch; the first batch (worker start-up) apart.",
        _table(["workers", "batches/s", "first batch (s)"], loader_rows),
    ])


def scaling_section(scaling: dict) -> str:
    rows = []
    for curve in scaling["curves"]:
        for p in curve["points"]:
            memory = (f"{p['peak_gpu_memory_mb']:.0f} (GPU)" if p["peak_gpu_memory_mb"]
                      else f"{p['peak_rss_mb']:.0f} ({p['peak_rss_mb'] - p['rss_before_steps_mb']:+.0f})")
            rows.append([curve["config_name"], curve["mode"].replace("_", " "), f"{p['seconds']:g}", str(p["samples"]),
                         f"{p['step_seconds']:.3f}", f"{p['audio_seconds_per_second']:.2f}", memory])
    return "\n\n".join([
        f"![cost curve](results/{PLOT_NAME})",
        "Full-length crops of noise (cost depends on shape only), forward + backward + AdamW, one fresh process "
        "per point; step time is the median of the measured steps after warm-up. Peak memory is the process's "
        "peak RSS in MiB (in brackets: its rise during the steps, over the model and optimizer already built). "
        "When other work shares the CPU, the few steps per point carry its noise in their times; "
        "the memory does not.",
        _table(["model", "batching", "crop (s)", "crops/batch", "step (s)", "audio s / s", "peak memory (MiB)"], rows),
    ])


def overhead_section(overhead: dict) -> str:
    return "\n\n".join([
        f"`hf_seqlen.pretrain.pretrain` on the demo corpus ({overhead['config_name']}, 2 s crops, "
        f"{overhead['batch_size']} per batch, {overhead['dataloader_num_workers']} loader workers, logging every "
        f"{overhead['logging_steps']} steps) against forward + backward + AdamW of a second copy of the model on "
        "the same batches pre-built as tensors. The arms alternate inside one run: at every log line of the loop "
        "the bare arm trains the next interval's batches, and its time is left out of the loop's interval. "
        f"{overhead['measured_steps']} measured steps of each arm; one round per logging interval.",
        _table(["", "seconds per step"], [
            ["real loop", _range(overhead["real_loop_seconds_per_step"], "{:.4f}")],
            ["bare steps", _range(overhead["bare_seconds_per_step"], "{:.4f}")],
            ["overhead", _range(overhead["overhead_percent"], "{:.1f}", "%")],
        ]),
    ])


def reference_section(reference: dict) -> str:
    rows = []
    for c in reference["comparisons"]:
        for arm in ("ours", "reference"):
            runs = c["runs"][arm]
            rows.append([c["config_name"], arm,
                         " / ".join(f"{r['audio_seconds_per_second']:.2f}" for r in runs),
                         " / ".join(f"{r['peak_rss_mb']:.0f} ({r['peak_rss_increase_mb']:+.0f})" for r in runs),
                         _range(c["padding_share"][arm], "{:.0%}")])
    ratios = [[c["config_name"], _range(c["throughput_ratio"], suffix="x"), _range(c["peak_memory_ratio"], suffix="x"),
               _range(c["peak_rss_increase_ratio"], suffix="x")] for c in reference["comparisons"]]
    return "\n\n".join([
        "The usual approach (written in `benchmarks/reference.py`): decode each file whole, keep its first "
        "max_duration seconds, batches of a fixed size in random order padded to the longest. Ours: the loader "
        "`pretrain` builds. Same demo corpus, model, seed, collator and loader settings; one fresh process per "
        "run, the arms alternating. What this does not measure: a whole process from start to saved model, on a "
        "corpus neither side has seen, against the transformers example itself. The demo corpus mixes 1 s keyword "
        "clips with sentences of up to 15 s, which gives the usual approach its padding. Peak RSS is dominated by the "
        "process's fixed footprint (libraries, model, optimizer), so equal peaks here are no evidence that padding "
        "costs no memory.",
        _table(["model", "arm", "audio s / s (each run)", "peak RSS MiB (rise during steps)", "padding"], rows),
        _table(["model", "throughput ours / usual", "peak memory ours / usual", "memory rise ours / usual"], ratios),
    ])


SECTIONS = (
    ("data_pipeline", "Data pipeline", data_section),
    ("scaling", "Scaling: the cost curve", scaling_section),
    ("overhead", "Overhead of the training loop", overhead_section),
    ("reference", "Against the usual approach", reference_section),
    ("gpu", "GPU", gpu_section),
)


def write(path: Path, results: dict, machine: dict, profile: str, command: str) -> Path:
    parts = ["# Benchmarks", "", machine_section(machine, profile, command), "", "## Summary", "", headline(results)]
    for key, title, render in SECTIONS:
        section = results.get(key)
        parts += ["", f"## {title}", "", NOT_RUN if section is None else render(section)]
    if FIXES.is_file():
        parts += ["", FIXES.read_text().strip()]
    path.write_text("\n".join(parts) + "\n")
    return path
