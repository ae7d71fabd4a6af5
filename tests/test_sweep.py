"""`hf-seqlen sweep` end to end: real pre-training and fine-tuning jobs, the report, and resuming."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HF_SEQLEN = str(Path(sys.executable).with_name("hf-seqlen"))
SWEEP = ["sweep", "--durations", "1", "2", "--tasks", "kws", "--max_train_steps", "20", "--downstream_max_steps", "10"]


def run_sweep(output_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([HF_SEQLEN, *SWEEP, "--output_dir", str(output_dir)], env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    output_dir = tmp_path_factory.mktemp("sweep") / "study"
    result = run_sweep(output_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return output_dir


def test_sweep_writes_one_row_per_duration_and_the_plots(sweep_dir):
    with open(sweep_dir / "report.csv") as f:
        rows = list(csv.DictReader(f))
    assert [row["arm"] for row in rows] == ["1s", "2s"]
    assert "## Headline" in (sweep_dir / "report.md").read_text()
    assert (sweep_dir / "cost_vs_duration.png").stat().st_size > 0
    assert list(sweep_dir.glob("kws_accuracy_vs_*.png"))


def test_report_numbers_are_the_runs_numbers(sweep_dir):
    with open(sweep_dir / "report.csv") as f:
        rows = {row["arm"]: row for row in csv.DictReader(f)}
    for arm in ("1s", "2s"):
        costs = json.loads((sweep_dir / arm / "pretrain" / "costs.json").read_text())
        results = json.loads((sweep_dir / arm / "kws" / "results.json").read_text())
        for name in ("wall_clock_seconds", "flops_total_estimated_from_counted_steps", "audio_hours"):
            assert float(rows[arm][name]) == costs[name]
        assert float(rows[arm]["kws_accuracy"]) == results["metrics"]["test"]["accuracy"]
        assert float(rows[arm]["longest_input_seconds"]) <= float(arm.rstrip("s"))


def test_rerun_skips_finished_jobs_and_redoes_interrupted_ones(sweep_dir, tmp_path):
    copy = tmp_path / "study"
    shutil.copytree(sweep_dir, copy)
    # As if 2 s pre-training was killed after its checkpoint and its fine-tuning never ran.
    (copy / "2s" / "pretrain" / "costs.json").unlink()
    shutil.rmtree(copy / "2s" / "kws")
    result = run_sweep(copy)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "1s pre-training: finished earlier, skipped" in result.stderr
    assert "1s kws: finished earlier, skipped" in result.stderr
    assert "resumed from" in (copy / "2s" / "pretrain.log").read_text()
    assert (copy / "2s" / "kws" / "results.json").is_file()
