"""RESULTS.md's GPU section from a record shaped as `python -m benchmarks --gpu` writes it: the best batch per crop,
the batch to pass, and each lever's before and after."""

from __future__ import annotations

from benchmarks.gpu import best_batches
from benchmarks.gpu_report import headline, lever_pairs, section, write_section


def point(mfu: float, step: float = 0.1, **fields) -> dict:
    return {
        "status": "measured",
        "mfu": mfu,
        "step_seconds": step,
        "crops_per_batch": 32,
        "audio_seconds_per_second": 640.0,
        "peak_memory_mib": 7000.0,
        "data_wait_share": 0.01,
        "optimizer": "fused",
        "cudnn_benchmark": True,
        "old_round_trips": False,
        **fields,
    }


def record() -> dict:
    curve = [
        {"crop_seconds": 2.0, "batch_seconds": 64.0, **point(0.10)},
        {"crop_seconds": 2.0, "batch_seconds": 128.0, **point(0.30)},
        {"crop_seconds": 2.0, "batch_seconds": 256.0, **point(0.42)},
        {"crop_seconds": 2.0, "batch_seconds": 512.0, "status": "out of memory"},
        {"crop_seconds": 1.0, "batch_seconds": 64.0, **point(0.12)},
        {"crop_seconds": 1.0, "batch_seconds": 128.0, **point(0.31)},
        {"crop_seconds": 1.0, "batch_seconds": 256.0, **point(0.315)},  # less than 3% more: the curve stopped
        {"crop_seconds": 16.0, "batch_seconds": 64.0, "status": "skipped: the part's time ran out"},
    ]
    levers = [
        {"lever": "as the loop runs", "batch_seconds": 256.0, **point(0.42, 0.20)},
        {
            "lever": "old host round trips",
            "batch_seconds": 256.0,
            **point(0.35, 0.24, old_round_trips=True, added_waits_per_update=3.0),
        },
        {"lever": "cudnn.benchmark off", "batch_seconds": 256.0, **point(0.41, 0.205, cudnn_benchmark=False)},
        {"lever": "AdamW foreach", "batch_seconds": 256.0, **point(0.40, 0.21, optimizer="foreach")},
    ]
    compiled = [{"lever": "--torch_compile (inductor)", "batch_seconds": 256.0, **point(0.47, 0.18)}]
    parts = {
        "curve": {"status": "measured", "seconds": 200, "budget_seconds": 210, "found": curve},
        "levers": {"status": "measured", "seconds": 60, "budget_seconds": 90, "found": levers},
        "compile": {"status": "stopped at its 110 s limit", "seconds": 110, "budget_seconds": 110, "found": compiled},
    }
    results = {
        "profile": "gpu",
        "device": "NVIDIA H100 80GB HBM3",
        "card_memory_mib": 81559.0,
        "peak_bf16_matmul_flops": 7.0e14,
        "config_name": "wav2vec2-base",
        "mixed_precision": "bf16",
        "default_batch_seconds": 64.0,
        "parts": parts,
    }
    results["best_batch_seconds"] = best_batches(parts["curve"])
    return results


def test_the_best_batch_of_each_crop_is_the_highest_measured_mfu():
    assert best_batches(record()["parts"]["curve"]) == {"2.0": 256.0, "1.0": 256.0}


def test_each_lever_pairs_the_run_without_it_with_the_run_with_it():
    pairs = {lever: (before["mfu"], after["mfu"]) for lever, before, after in lever_pairs(record())}
    assert pairs == {
        "256 s per batch, not 64 s, at 1 s crops": (0.12, 0.315),
        "256 s per batch, not 64 s, at 2 s crops": (0.10, 0.42),
        "no host round trips in an update (before: 3 waits per update)": (0.35, 0.42),
        "cudnn.benchmark on": (0.41, 0.42),
        "fused AdamW instead of foreach": (0.40, 0.42),
        "--torch_compile (inductor)": (0.42, 0.47),
    }


def test_the_section_names_the_card_the_batch_to_pass_and_what_was_not_measured(tmp_path):
    results = record()
    text = section(results)
    assert "NVIDIA H100 80GB HBM3, 80 GiB" in text
    assert "| 2 | 10.0% | `--max_batch_seconds 256` | 42.0% | 7000 |" in text
    assert "| 2 | 512 | — | — | — | — | — | — | out of memory |" in text
    assert "skipped: the part's time ran out" in text and "| compile | stopped at its 110 s limit |" in text
    assert "| no host round trips in an update (before: 3 waits per update) | 256 | 35.0% | 42.0% | +7.0 |" in text
    assert headline(results) == (
        "- GPU (NVIDIA H100 80GB HBM3), wav2vec2-base in bf16: MFU **10.0%** at 2 s crops and the default 64 s "
        "per batch; **42.0%** at 256 s per batch (goal >= 40%), waiting for data 1.0% of the time (goal <= 2%); "
        "31.5% at 1 s at their best batch (goal >= 30%)."
    )
    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("# Benchmarks\n\n## GPU\n\nstale section\n\n## Next\n\nkept\n")
    write_section(results_md, results)
    assert "stale section" not in results_md.read_text() and results_md.read_text().endswith("## Next\n\nkept\n")


def test_a_record_of_the_earlier_benchmark_still_gives_its_headline():
    earlier = {
        "profile": "gpu",
        "device": "NVIDIA H200",
        "parts": {"scaling": {"found": [{"status": "measured", "crop_seconds": 2.0, "mfu": 0.0743}]}},
    }
    assert "MFU **7.4%** at 2 s crops" in headline(earlier) and "earlier version" in section(earlier)
