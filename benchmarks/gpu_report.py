"""RESULTS.md's GPU section, written from results/gpu.json: the headline against the goals, MFU by batch per crop
length, the batch to pass per crop on the card measured, and what each lever moved, before and after."""

from __future__ import annotations

from pathlib import Path

HEADING = "## GPU"
AS_THE_LOOP_RUNS = "as the loop runs"  # the lever name of a run measured as built (gpu_loop.lever_variants)


def _measured(part: dict, key: str) -> list[dict]:
    return [f for f in part.get("found", []) if f.get("status") == "measured" and key in f]


def _mib(value) -> str:
    return "—" if value is None else f"{value:.0f}"


def _rate(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(
        ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(row) + " |" for row in rows]
    )


def curve_points(results: dict) -> list[dict]:
    return [p for p in results["parts"].get("curve", {}).get("found", []) if "crop_seconds" in p]


def at(results: dict, crop: float, batch: float | None) -> dict | None:
    """The measured curve point at this crop and batch."""
    return next(
        (
            p
            for p in curve_points(results)
            if p["status"] == "measured" and p["crop_seconds"] == crop and p["batch_seconds"] == batch
        ),
        None,
    )


def best(results: dict, crop: float) -> dict | None:
    return at(results, crop, results.get("best_batch_seconds", {}).get(str(crop)))


def earlier_record(results: dict) -> bool:
    """A record of the benchmark before it timed the loop itself (parts scaling, data_wait, reference, precision)."""
    return "curve" not in results["parts"]


def earlier_headline(results: dict) -> str:
    at_2s = [p for p in _measured(results["parts"].get("scaling", {}), "crop_seconds") if p["crop_seconds"] == 2.0]
    mfu = f"MFU **{at_2s[0]['mfu']:.1%}** at 2 s crops, 64 s per batch, " if at_2s else ""
    return f"- GPU ({results['device']}): {mfu}measured by an earlier version of `--gpu` (a hand-written step)."


def precision(results: dict) -> str:
    return "fp32" if results["mixed_precision"] == "no" else results["mixed_precision"]


def headline(results: dict) -> str:
    if earlier_record(results):
        return earlier_headline(results)
    figures = []
    default, best_2s = at(results, 2.0, results["default_batch_seconds"]), best(results, 2.0)
    if default:
        figures.append(
            f"MFU **{default['mfu']:.1%}** at 2 s crops and the default {default['batch_seconds']:g} s per batch"
        )
    if best_2s:
        figures.append(
            f"**{best_2s['mfu']:.1%}** at {best_2s['batch_seconds']:g} s per batch (goal >= 40%), waiting for data "
            f"{best_2s['data_wait_share']:.1%} of the time (goal <= 2%)"
        )
    others = [(crop, best(results, crop)) for crop in (1.0, 16.0)]
    if any(point for _, point in others):
        figures.append(
            " and ".join(f"{p['mfu']:.1%} at {crop:g} s" for crop, p in others if p)
            + " at their best batch (goal >= 30%)"
        )
    what = f"{results['config_name']} in {precision(results)}"
    return f"- GPU ({results['device']}), {what}: " + ("; ".join(figures) or "nothing measured, see below") + "."


def curve_table(results: dict) -> str:
    memory = "peak GPU memory (MiB)" if results["card_memory_mib"] else "peak memory (MiB, GPU only)"
    rows = []
    for p in curve_points(results):
        notes = [
            n
            for n, is_it in (
                ("default", p["batch_seconds"] == results["default_batch_seconds"]),
                ("best", p is best(results, p["crop_seconds"])),
            )
            if is_it
        ]
        if p["status"] != "measured":
            rows.append([f"{p['crop_seconds']:g}", f"{p['batch_seconds']:g}", *["—"] * 6, p["status"]])
            continue
        rows.append(
            [
                f"{p['crop_seconds']:g}",
                f"{p['batch_seconds']:g}",
                f"{p['crops_per_batch']:g}",
                f"{p['step_seconds']:.4f}",
                _rate(p["audio_seconds_per_second"]),
                _mib(p["peak_memory_mib"]),
                f"{p['data_wait_share']:.1%}",
                f"{p['mfu']:.1%}",
                ", ".join(notes),
            ]
        )
    header = ["crop (s)", "audio per batch (s)", "crops", "update (s)", "audio s / s", memory, "waiting for data"]
    return _table([*header, "MFU", ""], rows)


def recommendation(results: dict) -> list[str]:
    crops = sorted({p["crop_seconds"] for p in curve_points(results)})
    largest = max(p["batch_seconds"] for p in curve_points(results))
    rows = []
    for crop in crops:
        point, default = best(results, crop), at(results, crop, results["default_batch_seconds"])
        if point is None:
            continue
        rows.append(
            [
                f"{crop:g}",
                f"{default['mfu']:.1%}" if default else "—",
                f"`--max_batch_seconds {point['batch_seconds']:g}`"
                + (" (the largest tried)" if point["batch_seconds"] == largest else ""),
                f"{point['mfu']:.1%}",
                _mib(point["peak_memory_mib"]),
            ]
        )
    card = f"{results['card_memory_mib'] / 1024:.0f} GiB" if results["card_memory_mib"] else "no GPU memory"
    return [
        f"**Batch to pass** on this card ({results['device']}, {card}): per crop length, the batch with the highest "
        "MFU measured; a card with less memory needs a batch whose peak memory fits it.",
        "",
        _table(
            [
                "crop (s)",
                f"MFU at the default {results['default_batch_seconds']:g} s",
                "pass",
                "MFU",
                "peak memory (MiB)",
            ],
            rows,
        ),
    ]


def lever_pairs(results: dict) -> list[tuple[str, dict, dict]]:
    """(lever, without it, with it), each pair measured on the same card in the same call."""
    pairs = []
    for crop in sorted({p["crop_seconds"] for p in curve_points(results)}):
        default, top = at(results, crop, results["default_batch_seconds"]), best(results, crop)
        if default and top and top is not default:
            pairs.append(
                (
                    f"{top['batch_seconds']:g} s per batch, not {default['batch_seconds']:g} s, at {crop:g} s crops",
                    default,
                    top,
                )
            )
    levers = _measured(results["parts"].get("levers", {}), "lever")
    compiled = _measured(results["parts"].get("compile", {}), "lever")
    for batch in sorted({p["batch_seconds"] for p in levers}):
        here = [p for p in levers if p["batch_seconds"] == batch]
        loop = next((p for p in here if p["lever"] == AS_THE_LOOP_RUNS), None)
        if loop is None:
            continue
        for other in here:
            if other["old_round_trips"]:
                waits = other.get("added_waits_per_update")
                restored = f" (before: {waits:g} waits per update)" if waits else ""
                pairs.append((f"no host round trips in an update{restored}", other, loop))
            elif other["cudnn_benchmark"] != loop["cudnn_benchmark"]:
                off, on = (other, loop) if loop["cudnn_benchmark"] else (loop, other)
                pairs.append(("cudnn.benchmark on", off, on))
            elif other["optimizer"] != loop["optimizer"]:
                unfused, fused = (other, loop) if loop["optimizer"] == "fused" else (loop, other)
                pairs.append((f"fused AdamW instead of {unfused['optimizer']}", unfused, fused))
        pairs += [(p["lever"], loop, p) for p in compiled if p["batch_seconds"] == batch]
    return pairs


def levers_table(results: dict) -> list[str]:
    rows = [
        [
            lever,
            f"{after['batch_seconds']:g}",
            f"{before['mfu']:.1%}",
            f"{after['mfu']:.1%}",
            f"{(after['mfu'] - before['mfu']) * 100:+.1f}",
            f"{before['step_seconds']:.4f} -> {after['step_seconds']:.4f}",
        ]
        for lever, before, after in lever_pairs(results)
    ]
    return [
        "**What moved MFU**, 2 s crops unless the lever says otherwise; before is without the lever, after with "
        "it, both measured in this call. The host round trips are those the loop had before each update's "
        "counts and save/stop flags rode in one all-reduce: restored here as three torch.cuda.synchronize() per "
        "update (before the first forward, after the gradient norm, after the step), each counted as it was made.",
        "",
        _table(
            ["lever", "audio per batch (s)", "MFU before", "MFU after", "points", "update (s) before -> after"], rows
        ),
    ]


def section(results: dict) -> str:
    """The body of RESULTS.md's GPU section (what report.write shows under its heading)."""
    if earlier_record(results):
        return (
            f"{earlier_headline(results)}\n\nIts tables are in this file's git history; `bash benchmarks/gpu_run.sh` "
            "on a GPU machine measures the training loop itself and writes this section anew."
        )
    parts = results["parts"]
    tiny = " --tiny" if results["profile"] != "gpu" else ""
    out = [
        f"Command: `python -m benchmarks --gpu{tiny}` (on a GPU machine: `bash benchmarks/gpu_run.sh`) on "
        f"**{results['device']}**, {results['config_name']} in {precision(results)}, SDPA. Every "
        "figure is of the training loop a user runs: a run built by `build_run` on a generated folder of noise "
        "(16 kHz WAV, crops cut with `--crop_mode chunk`), timed over `pretrain.loop.update` on its own loader's "
        "batches, after warm-up updates. MFU: FLOPs as the run's cost meter counts them (FlopCounterMode) over "
        f"the measured {results['peak_bf16_matmul_flops'] / 1e12:.3g} TFLOP/s of a large bf16 matrix product. "
        "Waiting for data: the time the loop was blocked on its loader. Each part ran in its own process under its "
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
    if curve_points(results):
        out += [
            "",
            "**MFU by batch**: from the default batch, doubling until memory ran out or MFU stopped rising.",
            "",
        ]
        out += [curve_table(results), "", *recommendation(results)]
    if lever_pairs(results):
        out += ["", *levers_table(results)]
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
