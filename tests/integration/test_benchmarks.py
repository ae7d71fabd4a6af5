"""The benchmark harness runs end to end in its smallest configuration and writes its files.

No timing is checked: these numbers come from a few steps on a shared machine and mean nothing.
"""

import json
import os
import subprocess
import sys

from helpers import REPO

MEASUREMENTS = ("data_pipeline", "scaling", "overhead", "reference", "whole_process")


def test_smoke_run_writes_results_report_and_plot(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--output_dir", str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]

    for name in MEASUREMENTS:
        saved = json.loads((tmp_path / "results" / f"{name}.json").read_text())
        assert saved["profile"] == "smoke" and saved["machine"]["cpu_cores"] >= 1
    assert (tmp_path / "results" / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    report = (tmp_path / "RESULTS.md").read_text()
    cpu_model = json.loads((tmp_path / "results" / "scaling.json").read_text())["machine"]["cpu_model"]
    assert cpu_model in report
    for headline in (
        "faster than decoding the whole file",
        "Overhead of the real training loop",
        "Against the usual approach",
        "Whole run, start to saved model",
        "Time to the first update",
    ):
        assert headline in report
    assert not (tmp_path / "results" / "gpu.json").exists()  # only --gpu writes it


def test_the_gpu_command_runs_every_part_in_its_tiny_mode(tmp_path):
    """`python -m benchmarks --gpu --tiny`: the GPU benchmark's code on the CPU (wav2vec2-tiny, Dynamo without a
    backend for compile), so it cannot rot before a GPU runs it. Every part times the real loop and the report
    names the device and the levers; the numbers mean nothing."""
    (tmp_path / "RESULTS.md").write_text("# Benchmarks\n\n## GPU\n\nstale section\n\n## Reading the numbers\n\nkept\n")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--gpu", "--tiny", "--output_dir", str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    saved = json.loads((tmp_path / "results" / "gpu.json").read_text())["results"]
    assert list(saved["parts"]) == ["curve", "levers", "compile"]
    # On a loaded machine a part may reach its time limit: it then says so and keeps what it measured.
    for name, part in saved["parts"].items():
        assert part["status"] == "measured" or part["status"].startswith("stopped at its"), (name, part["status"])
    curve, levers = saved["parts"]["curve"], saved["parts"]["levers"]
    if curve["status"] == "measured":  # every crop from the default batch up, the larger batch too (min gain < 0)
        assert [(p["crop_seconds"], p["batch_seconds"]) for p in curve["found"]] == [(1, 2), (1, 4), (0.5, 2), (0.5, 4)]
        assert all(p["flops_per_update"] > 0 and 0 <= p["data_wait_share"] < 1 for p in curve["found"])
    if levers["status"] == "measured":
        assert [p["lever"] for p in levers["found"]] == [
            "as the loop runs",
            "old host round trips (3 torch.cuda.synchronize() per update)",
            "cudnn.benchmark on",
            "AdamW for-loop",  # the other AdamW than the default fused one: on a CPU, torch's for-loop kernel
        ]
    report = (tmp_path / "RESULTS.md").read_text()
    assert saved["device"].startswith("CPU: ") and saved["device"] in report
    assert "stale section" not in report and report.count("## GPU") == 1
    assert report.endswith("## Reading the numbers\n\nkept\n")
    for row in (
        "| curve |",
        "| no host round trips in an update (before: 3 waits per update) |",
        "| --torch_compile (eager) |",
        "Batch to pass",
    ):
        assert row in report


def test_a_part_that_fails_or_runs_out_of_time_is_recorded_and_the_rest_still_run(tmp_path):
    from benchmarks import gpu
    from benchmarks.profiles import GPU_TINY

    saves = []
    context = {"corpus": str(tmp_path / "none"), "peak_flops": 1.0, "best_batch_seconds": {}}
    failed = gpu.run_part("no_such_part", GPU_TINY, 60, tmp_path, lambda: saves.append(1), context)
    assert failed["status"].startswith("failed (exit 1)") and "KeyError: 'no_such_part'" in failed["status"]
    stopped = gpu.run_part("curve", GPU_TINY, 1, tmp_path, lambda: saves.append(1), context)
    assert stopped["status"] == "stopped at its 1 s limit" and saves


def test_trial_profiles_never_write_the_committed_record():
    from benchmarks.__main__ import default_output_dir

    record = REPO / "benchmarks"
    assert default_output_dir("full") == record and default_output_dir("gpu") == record
    for trial in ("quick", "smoke", "gpu-tiny"):
        folder = default_output_dir(trial)
        assert folder != record and record in folder.parents
        assert subprocess.run(["git", "check-ignore", "-q", str(folder / "RESULTS.md")], cwd=REPO).returncode == 0


def test_the_gpu_time_to_quality_script_runs_the_smoke_frontier_end_to_end_on_a_cpu(tmp_path):
    """The script a GPU machine runs, with the smoke profile: every arm of both budgets pre-trained and probed, the
    frontier, the figure and the section written."""
    result = subprocess.run(
        ["bash", "benchmarks/gpu_time_to_quality.sh", "--smoke", "--jobs", "2", "--output_dir", str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    saved = json.loads((tmp_path / "results" / "time_to_quality.json").read_text())["results"]
    smallest, headline = saved["budgets"]
    assert [row["name"] for row in smallest["arms"]] == [
        "example, 1 update",
        "2s, same updates",
        "2s, same FLOPs",
        "untrained",
    ]
    arms = {row["name"]: row for row in headline["arms"]}
    assert list(arms) == [
        "example, 3 updates",
        "example, its README demo's settings: 1 update of 8 batches",
        "2s, same updates",
        "2s, same FLOPs",
        "untrained",
    ]
    example = arms["example, 3 updates"]
    assert example["difference"] is None and example["flops"]["median"] > 0 and example["peak_rss_mb"]["median"] > 0
    assert arms["2s, same updates"]["updates"]["median"] == 3
    # --max_train_flops buys whole updates: the same FLOPs to within one update of 2 s crops
    same_flops = arms["2s, same FLOPs"]
    assert same_flops["updates"]["median"] > 3 and 0.9 < same_flops["flops_share_of_example"]["median"] < 1.2
    for row in arms.values():
        accuracy = row["accuracy"]
        assert accuracy["low"] <= accuracy["estimate"] <= accuracy["high"]
        assert (row["keeps_gain"] is None) == (row["recipe"] in ("example", "untrained"))
    assert headline["goal"]["same_updates_keeps_gain"] in (True, False)
    assert saved["frontier"]["smallest"] == 1 and saved["frontier"]["largest"] == 3
    assert saved["corpus"]["pretraining_seconds"]["max"] <= 9.0
    assert (tmp_path / "results" / "time_to_quality.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (tmp_path / "RESULTS.md").read_text()
    assert "## Time to quality against the transformers example" in report and "**Frontier.**" in report
    assert (
        "results/time_to_quality.png" in report and "Goal: at equal FLOPs" in report and "gain over untrained" in report
    )
