"""`hf-seqlen sweep` end to end: real pre-training and fine-tuning jobs per seed, the report, and resuming; and the
jobs a sweep plans, each an entry point with its options, each option once."""

import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import HF_SEQLEN
from hf_seqlen.corpus.sources import DEMO_CORPUS
from hf_seqlen.publishing.release import refresh_card
from hf_seqlen.study.arm import Arm
from hf_seqlen.study.report import write_report

SWEEP = [
    "sweep",
    "--durations",
    "1",
    "2",
    "--tasks",
    "kws",
    "--max_train_steps",
    "20",
    "--downstream_max_steps",
    "10",
    "--data_dir",
    str(DEMO_CORPUS),
]


def run_sweep(output_dir: Path, *seeds: str) -> subprocess.CompletedProcess:
    """The `hf-seqlen` console script, as a user runs it: it keeps the command's wiring honest."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [HF_SEQLEN, *SWEEP, "--seeds", *seeds, "--output_dir", str(output_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )


def report_rows(sweep_dir: Path) -> dict:
    with open(sweep_dir / "report.csv") as f:
        return {row["arm"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    """A study of seeds 0 and 1, made as a user grows one: seed 0 first, its 2 s pre-training killed after its
    checkpoint and before its fine-tuning ran, then the same command with seed 1 added. The second command's
    log is kept in `second_run.log` beside the study."""
    output_dir = tmp_path_factory.mktemp("sweep") / "study"
    first = run_sweep(output_dir, "0")
    assert first.returncode == 0, first.stderr[-3000:]
    (output_dir / "2s" / "seed-0" / "pretrain" / "costs.json").unlink()
    shutil.rmtree(output_dir / "2s" / "seed-0" / "kws")
    second = run_sweep(output_dir, "0", "1")
    assert second.returncode == 0, second.stderr[-3000:]
    (output_dir.parent / "second_run.log").write_text(second.stderr)
    return output_dir


def test_sweep_writes_one_row_per_arm_with_intervals_and_the_figures(sweep_dir):
    rows = report_rows(sweep_dir)
    assert list(rows) == ["1s", "2s"] and rows["1s"]["reference_arm"] == "2s" and rows["1s"]["seeds"] == "2"
    for column in (
        "kws_accuracy_ci_low",
        "kws_accuracy_ci_high",
        "kws_f1_ci_low",
        "kws_accuracy_diff_vs_reference",
        "kws_accuracy_diff_ci_low",
        "cost_ratio_vs_reference",
    ):
        assert rows["1s"][column] != ""
    markdown = (sweep_dir / "report.md").read_text()
    assert "## Headline" in markdown and "![summary](summary.png)" in markdown
    assert sorted(p.name for p in sweep_dir.glob("*.png")) == ["costs.png", "kws.png", "summary.png"]
    assert "## In the sequence-length study" in (sweep_dir / "1s" / "seed-1" / "pretrain" / "README.md").read_text()


def test_report_numbers_are_the_runs_numbers(sweep_dir):
    rows = report_rows(sweep_dir)
    for arm in ("1s", "2s"):
        costs = [json.loads((sweep_dir / arm / f"seed-{s}" / "pretrain" / "costs.json").read_text()) for s in (0, 1)]
        results = [json.loads((sweep_dir / arm / f"seed-{s}" / "kws" / "results.json").read_text()) for s in (0, 1)]
        assert float(rows[arm]["audio_hours"]) == pytest.approx(sum(c["audio_hours"] for c in costs) / 2)
        assert float(rows[arm]["kws_accuracy"]) == pytest.approx(
            sum(r["metrics"]["test"]["accuracy"] for r in results) / 2
        )
        assert float(rows[arm]["longest_input_seconds"]) <= float(arm.rstrip("s"))


def test_arms_identical_but_for_their_names_show_no_difference(sweep_dir, tmp_path):
    copy = tmp_path / "study"
    shutil.copytree(sweep_dir / "1s", copy / "1s")
    shutil.copytree(sweep_dir / "1s", copy / "1s-again")
    arms = [Arm("1s", 1.0), Arm("1s-again", 1.0, "1:1")]
    write_report(copy, arms, ["kws"], [0, 1])
    row = report_rows(copy)["1s-again"]
    assert float(row["kws_accuracy_diff_ci_low"]) <= 0 <= float(row["kws_accuracy_diff_ci_high"])
    assert "identical on every example in every seed" in (copy / "report.md").read_text()
    assert "better" not in (copy / "report.md").read_text() and "worse" not in (copy / "report.md").read_text()


def test_adding_a_seed_runs_only_its_jobs_and_interrupted_ones_resume(sweep_dir):
    second_run = (sweep_dir.parent / "second_run.log").read_text()
    for finished in ("1s seed 0 pre-training", "1s seed 0 kws"):
        assert f"{finished}: finished earlier, skipped" in second_run
    for new in ("2s seed 0 kws", "1s seed 1 pre-training", "2s seed 1 kws"):
        assert f"{new}: running" in second_run
    assert "resumed from" in (sweep_dir / "2s" / "seed-0" / "pretrain.log").read_text()
    assert report_rows(sweep_dir)["1s"]["seeds"] == "2"


def test_a_rewritten_card_keeps_the_sweeps_section(sweep_dir, tmp_path):
    pretrain = tmp_path / "pretrain"
    shutil.copytree(sweep_dir / "2s" / "seed-0" / "pretrain", pretrain)
    card = refresh_card(pretrain, "someone/w2v2-2s").read_text()
    assert "someone/w2v2-2s" in card and card.count("## In the sequence-length study") == 1
