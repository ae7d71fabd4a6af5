"""RESULTS.md: the machine, the headline numbers, one table per measurement, and the fixes made
with their before and after numbers (kept by hand in fixes.md, since "before" is old code)."""

from __future__ import annotations

from pathlib import Path

from .gpu_report import headline as gpu_headline
from .gpu_report import section as gpu_section
from .time_to_quality import headline as time_to_quality_headline
from .time_to_quality import section as time_to_quality_section

FIXES = Path(__file__).resolve().parent / "fixes.md"
NOT_RUN = "not run in this invocation (no results file)"
GPU_NOT_RUN = (
    "Not measured yet: no GPU was lent. `python -m benchmarks --gpu` writes this section on one; "
    "how to run it: [README.md](README.md)."
)
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
    where = (
        "GPU: " + gpus
        if machine["gpus"]
        else (
            f"**CPU numbers on a {machine['cpu_cores']}-core machine**, where other work can share the cores: "
            "every figure is the median over rounds in which the compared arms alternated (A B A B ...), "
            "with the min–max of the rounds in brackets"
        )
    )
    return "\n".join(
        [
            f"Last written by `{command}` (profile `{profile}`); a section kept from an earlier invocation names "
            f"its own profile or machine. {where}.",
            "",
            _table(
                ["", ""],
                [
                    [
                        "CPU",
                        f"{machine['cpu_model']}, {machine['cpu_cores']} cores ({machine['cores_usable']} usable, "
                        f"torch threads {machine['torch_threads']})",
                    ],
                    ["memory", f"{machine['memory_gib']:.1f} GiB" if machine["memory_gib"] else "unknown"],
                    ["GPU", gpus + (f" (CUDA {machine['cuda']})" if machine["gpus"] else "")],
                    ["platform", machine["platform"]],
                    ["libraries", versions],
                ],
            ),
        ]
    )


def _decode_at(data: dict, fmt: str, crop: float) -> dict | None:
    return next((d for d in data["decoding"][fmt] if d["crop_seconds"] == crop), None)


def headline(results: dict) -> str:
    lines = []
    data = results.get("data_pipeline")
    if data:
        for fmt in data["decoding"]:
            at2 = _decode_at(data, fmt, 2.0)
            if at2:
                lines.append(
                    f"- Data pipeline, 2 s crops of {data['source_seconds']:g} s {fmt} files: crop-aware "
                    f"decoding is **{_range(at2['speedup'], suffix='x')}** faster than decoding the whole "
                    "file (goal >= 4x)."
                )
    overhead = results.get("overhead")
    if overhead:
        lines.append(
            f"- Overhead of the real training loop over bare forward + backward + AdamW on pre-built "
            f"tensors ({overhead['config_name']}, 2 s crops, 8 per batch): "
            f"**{_overhead_median(overhead)}** (goal <= 5%)."
        )
    reference = results.get("reference")
    if reference:
        for c in reference["comparisons"]:
            lines.append(
                f"- Against the usual approach ({c['config_name']}, {c['max_duration']:g} s, "
                f"{c['batch_size']} per batch): audio-seconds per second ours / usual "
                f"**{_range(c['throughput_ratio'], suffix='x')}** (goal >= 1.0x); peak memory ours / usual "
                f"**{_range(c['peak_memory_ratio'], suffix='x')}** (goal <= 1.0x). In-loop throughput on "
                "the demo corpus against our own rendering of the usual approach, not a whole run; see its "
                "section for what the memory figure can and cannot see."
            )
    whole = results.get("whole_process")
    if whole:
        for c in whole["comparisons"]:
            lines.append(
                f"- Whole run, start to saved model, against the transformers example ({whole['config_name']}, "
                f"{whole['updates']} updates of {whole['batch_size']} crops <= {whole['max_duration']:g} s, "
                f"{_corpus(c['corpus'])}): **{_range(c['speedup'], suffix='x')}** faster (goal >= 1.2x); "
                f"peak memory ours / example **{_range(c['peak_rss_ratio'], suffix='x')}** (goal <= 1.0x)."
            )
        if whole["corpus_size"]:
            small, large = whole["corpus_size"][0], whole["corpus_size"][-1]
            lines.append(
                f"- Time to the first update from {small['corpus']['hours']:.2g} h to "
                f"{large['corpus']['hours']:.2g} h of audio: ours "
                f"{small['ours']['first_update_seconds']['median']:.1f} s -> "
                f"{large['ours']['first_update_seconds']['median']:.1f} s, the example "
                f"{small['example']['first_update_seconds']['median']:.1f} s -> "
                f"{large['example']['first_update_seconds']['median']:.1f} s (goal: flat in hours)."
            )
    if results.get("time_to_quality"):
        lines.append(time_to_quality_headline(results["time_to_quality"]))
    gpu = results.get("gpu")
    lines.append(
        gpu_headline(gpu)
        if gpu
        else "- GPU: not measured yet; `python -m benchmarks --gpu` on a GPU machine writes it (see README.md)."
    )
    return "\n".join(lines)


def data_section(data: dict) -> str:
    rows = [
        [
            fmt,
            f"{d['crop_seconds']:g}",
            _range(d["crop_aware_ms_per_sample"]),
            _range(d["whole_file_ms_per_sample"]),
            _range(d["speedup"], suffix="x"),
        ]
        for fmt, crops in data["decoding"].items()
        for d in crops
    ]
    loader = data["loader"]
    loader_rows = [
        [str(w["workers"]), _range(w["batches_per_second"], "{:.1f}"), _range(w["first_batch_seconds"], "{:.3f}")]
        for w in loader["workers"]
    ]
    return "\n\n".join(
        [
            f"Decoding a crop of a {data['source_seconds']:g} s file, per sample ({data['files']} generated files, "
            "random offsets): `hf_seqlen.corpus.audio.decode_range` against `soundfile.read` of the whole file "
            "then a slice.",
            _table(["format", "crop (s)", "crop-aware (ms)", "whole file (ms)", "speed-up"], rows),
            f"The loader `pretrain` builds (`make_loader`: CropBatchSampler -> CroppedAudio -> PretrainingCollator) "
            f"over the demo corpus, {loader['max_duration']:g} s crops, {loader['batch_size']} per batch. "
            "Steady batches per second after the first batch; the first batch (worker start-up) apart.",
            _table(["workers", "batches/s", "first batch (s)"], loader_rows),
        ]
    )


def scaling_section(scaling: dict) -> str:
    rows = []
    for curve in scaling["curves"]:
        for p in curve["points"]:
            memory = (
                f"{p['peak_gpu_memory_mb']:.0f} (GPU)"
                if p["peak_gpu_memory_mb"]
                else f"{p['peak_rss_mb']:.0f} ({p['peak_rss_mb'] - p['rss_before_steps_mb']:+.0f})"
            )
            rows.append(
                [
                    curve["config_name"],
                    curve["mode"].replace("_", " "),
                    f"{p['seconds']:g}",
                    str(p["samples"]),
                    f"{p['step_seconds']:.3f}",
                    f"{p['audio_seconds_per_second']:.2f}",
                    memory,
                ]
            )
    return "\n\n".join(
        [
            f"![cost curve](results/{PLOT_NAME})",
            "Full-length crops of noise (cost depends on shape only), forward + backward + AdamW, one fresh process "
            "per point; step time is the median of the measured steps after warm-up. Peak memory is the process's "
            "peak RSS in MiB (in brackets: its rise during the steps, over the model and optimizer already built). "
            "When other work shares the CPU, the few steps per point carry its noise in their times; "
            "the memory does not.",
            _table(
                ["model", "batching", "crop (s)", "crops/batch", "step (s)", "audio s / s", "peak memory (MiB)"], rows
            ),
        ]
    )


def overhead_section(overhead: dict) -> str:
    return "\n\n".join(
        [
            f"`hf_seqlen.pretrain.loop.pretrain` on the demo corpus ({overhead['config_name']}, 2 s crops, "
            f"{overhead['batch_size']} per batch, {overhead['dataloader_num_workers']} loader workers, logging every "
            f"{overhead['logging_steps']} steps) against forward + backward + AdamW of a second copy of the model on "
            "the same batches pre-built as tensors. The arms alternate inside one run: at every log line of the loop "
            "the bare arm trains the next interval's batches, and its time is left out of the loop's interval. "
            f"{overhead['measured_steps']} measured steps of each arm; one round per logging interval.",
            _table(
                ["", "seconds per step"],
                [
                    ["real loop", _range(overhead["real_loop_seconds_per_step"], "{:.4f}")],
                    ["bare steps", _range(overhead["bare_seconds_per_step"], "{:.4f}")],
                    ["overhead per round", _range(overhead["overhead_percent"], "{:.1f}", "%")],
                ],
            ),
            f"Overhead, the median round: **{_overhead_median(overhead)}**. The interval is distribution-free (order "
            "statistics of the paired rounds), since a shared machine's slow rounds have heavy tails.",
        ]
    )


def _overhead_median(overhead: dict) -> str:
    """The median round with its 95% interval; results measured before the interval was kept show the range."""
    interval = overhead.get("overhead_percent_interval")
    if interval is None:
        return _range(overhead["overhead_percent"], "{:.1f}", "%") + " (median, min–max of the rounds)"
    if interval["low"] is None:
        return f"{interval['median']:.1f}% ({interval['rounds']} rounds: too few for a 95% interval)"
    return (
        f"{interval['median']:.1f}% (95% CI {interval['low']:.1f}% to {interval['high']:.1f}%, "
        f"{interval['rounds']} paired rounds)"
    )


def reference_section(reference: dict) -> str:
    rows = []
    for c in reference["comparisons"]:
        for arm in ("ours", "reference"):
            runs = c["runs"][arm]
            rows.append(
                [
                    c["config_name"],
                    arm,
                    " / ".join(f"{r['audio_seconds_per_second']:.2f}" for r in runs),
                    " / ".join(f"{r['peak_rss_mb']:.0f} ({r['peak_rss_increase_mb']:+.0f})" for r in runs),
                    _range(c["padding_share"][arm], "{:.0%}"),
                ]
            )
    ratios = [
        [
            c["config_name"],
            _range(c["throughput_ratio"], suffix="x"),
            _range(c["peak_memory_ratio"], suffix="x"),
            _range(c["peak_rss_increase_ratio"], suffix="x"),
        ]
        for c in reference["comparisons"]
    ]
    return "\n\n".join(
        [
            "The usual approach (written in `benchmarks/reference.py`): decode each file whole, keep its first "
            "max_duration seconds, batches of a fixed size in random order padded to the longest. Ours: the loader "
            "`pretrain` builds. Same demo corpus, model, seed, collator and loader settings; one fresh process per "
            "run, the arms alternating. What this does not measure: a whole process from start to saved model, on a "
            "corpus neither side has seen, against the transformers example itself. The demo corpus mixes 1 s keyword "
            "clips with sentences of up to 15 s, which gives the usual approach its padding. Peak memory: until runs "
            "read their own peak (VmHWM), a child's ru_maxrss started at its parent's peak, so every run of both arms "
            "read the harness's own size (906 MiB in the tiny rows of results measured before that change). Even so, "
            "expect similar peaks here: the largest batch is "
            f"{reference['comparisons'][0]['batch_size']} x max_duration in both arms (nearly every padded batch "
            "holds a file longer than max_duration), so padding costs compute on average rather than peak memory. "
            "Whole runs, where the two sides differ in memory, are in the next section.",
            _table(["model", "arm", "audio s / s (each run)", "peak RSS MiB (rise during steps)", "padding"], rows),
            _table(
                ["model", "throughput ours / usual", "peak memory ours / usual", "memory rise ours / usual"], ratios
            ),
        ]
    )


def _corpus(corpus: dict) -> str:
    return f"{corpus['shape']} corpus, {corpus['files']} files, {corpus['hours']:.2g} h"


def _mib(value: float) -> str:
    return f"{value / 2**20:.1f}"


def whole_process_section(whole: dict) -> str:
    rows, ratios = [], []
    for c in whole["comparisons"]:
        for arm in ("ours", "example"):
            s = c["summary"][arm]
            rows.append(
                [
                    c["corpus"]["shape"],
                    arm,
                    _range(s["wall_seconds"], "{:.1f}"),
                    _range(s["first_update_seconds"], "{:.1f}"),
                    _range(s["peak_rss_mb"], "{:.0f}"),
                    f"{s['tree_peak_before_first_update_mb']['median']:.0f} / "
                    f"{s['tree_peak_after_first_update_mb']['median']:.0f}",
                    _mib(s["disk_written_bytes"]["median"]),
                ]
            )
        ratios.append(
            [
                _corpus(c["corpus"]),
                _range(c["speedup"], suffix="x"),
                _range(c["peak_rss_ratio"], suffix="x"),
                _range(c["first_update_ratio"], suffix="x"),
            ]
        )
    sizes = [
        [f"{p['corpus']['hours']:.2g}", str(p["corpus"]["files"])]
        + [
            cell
            for arm in ("ours", "example")
            for cell in (
                _range(p[arm]["first_update_seconds"], "{:.1f}"),
                _mib(p[arm]["disk_written_bytes"]["median"]),
                f"{p[arm]['peak_rss_mb']['median']:.0f}",
            )
        ]
        for p in whole["corpus_size"]
    ]
    return "\n\n".join(
        [
            "`run_pretrain.py` (ours, its defaults) against `benchmarks/transformers_example.py`, which does what "
            "transformers' `run_wav2vec2_pretraining_no_trainer.py` does (up-front decode of every file into an Arrow "
            "cache, fixed-size shuffled batches padded to the longest, validation and a save at every epoch end; its "
            "docstring lists what had to change to run here). Same model "
            f"({whole['config_name']}), {whole['updates']} updates of {whole['batch_size']} crops <= "
            f"{whole['max_duration']:g} s, minimum length 0.5 s, logging every update"
            + (
                f", torch limited to {whole['torch_threads']} thread(s) in both (OMP_NUM_THREADS; see the profile)"
                if whole.get("torch_threads")
                else ""
            )
            + ". Each run is a fresh "
            "`python` process from start to saved model on a generated corpus of noise and tones (16-bit FLAC) "
            "that neither side had seen (fresh datasets cache per run); the arms alternate.",
            "Peak memory is the kernel's peak resident set of the run's process (`wait4` in a small launcher "
            "between the harness and the run, since a child's figure starts at its parent's peak; for runs "
            "stopped at the first update, the sampled peak); "
            "beside it the largest sampled sum over the process tree before / after the first update, which counts "
            "twice the pages a forked helper shares with its parent (ours starts codecarbon, which forks helpers "
            "while it probes the hardware), so it can read above the peak. Disk written: everything the run left "
            "in its own folder (datasets cache, Arrow files, checkpoints, model), in MiB. Time to first update: from "
            "the start of the process to its `step 1:` log line.",
            _table(
                [
                    "corpus",
                    "arm",
                    "wall (s)",
                    "first update (s)",
                    "peak RSS (MiB)",
                    "tree peak before / after first update (MiB)",
                    "disk written (MiB)",
                ],
                rows,
            ),
            _table(
                ["corpus", "speed-up (example wall / ours)", "peak RSS ours / example", "first update ours / example"],
                ratios,
            ),
            "Time to first update and disk written against corpus size: LibriSpeech-shaped corpora of silent WAV "
            "files (sparse on disk, so hours of audio cost no time to make), each run stopped at its first update.",
            _table(
                [
                    "hours",
                    "files",
                    "ours: first update (s)",
                    "ours: disk (MiB)",
                    "ours: peak RSS (MiB)",
                    "example: first update (s)",
                    "example: disk (MiB)",
                    "example: peak RSS (MiB)",
                ],
                sizes,
            ),
        ]
    )


SECTIONS = (
    ("data_pipeline", "Data pipeline", data_section),
    ("scaling", "Scaling: the cost curve", scaling_section),
    ("overhead", "Overhead of the training loop", overhead_section),
    ("reference", "Against the usual approach", reference_section),
    ("whole_process", "Whole runs against the transformers example", whole_process_section),
    ("time_to_quality", "Time to quality against the transformers example", time_to_quality_section),
    ("gpu", "GPU", gpu_section),
)


def _other_machine(measured_on: dict | None, machine: dict) -> str:
    """A section kept from an earlier invocation on another machine says so."""
    if not measured_on or (measured_on["cpu_model"], measured_on["cpu_cores"], measured_on["gpus"]) == (
        machine["cpu_model"],
        machine["cpu_cores"],
        machine["gpus"],
    ):
        return ""
    gpus = ", ".join(measured_on["gpus"]) or "no GPU"
    return (
        f"Measured on another machine than the one named above: {measured_on['cpu_model']}, "
        f"{measured_on['cpu_cores']} cores, {gpus}.\n\n"
    )


def _other_profile(measured_with: str | None, profile: str) -> str:
    """A section kept from an earlier invocation of another profile says so."""
    if not measured_with or measured_with == profile:
        return ""
    return f"Measured with the `{measured_with}` profile.\n\n"


def write(
    path: Path,
    results: dict,
    machine: dict,
    profile: str,
    command: str,
    machines: dict | None = None,
    profiles: dict | None = None,
) -> Path:
    """`machines`, `profiles`: the machine and profile each section's results were measured with, where known."""
    parts = ["# Benchmarks", "", machine_section(machine, profile, command), "", "## Summary", "", headline(results)]
    for key, title, render in SECTIONS:
        section = results.get(key)
        missing = GPU_NOT_RUN if key == "gpu" else NOT_RUN
        if section is None:
            body = missing
        else:
            measured_with = None if key == "gpu" else (profiles or {}).get(key)  # the GPU's profile is its own
            body = (
                _other_machine((machines or {}).get(key), machine)
                + _other_profile(measured_with, profile)
                + render(section)
            )
        parts += ["", f"## {title}", "", body]
    if FIXES.is_file():
        parts += ["", FIXES.read_text().strip()]
    path.write_text("\n".join(parts) + "\n")
    return path
