"""`hf-seqlen sweep` end to end: real pre-training and fine-tuning jobs per seed, the report, and resuming; and the
jobs a sweep plans, each an entry point with its options, each option once."""

import csv
import json
import os
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import accelerate.commands.config as accelerate_config
import accelerate.utils.imports
import pytest
import torch

from helpers import REPO
from hf_seqlen.cli import downstream_main
from hf_seqlen.corpus.sources import DEMO_CORPUS
from hf_seqlen.pretrain.args import DataArguments, ModelArguments, PretrainingArguments
from hf_seqlen.publishing.release import refresh_card
from hf_seqlen.study.budgets import BUDGETS
from hf_seqlen.study.job import Job, launch, option
from hf_seqlen.study.report import write_report
from hf_seqlen.study.sweep import (
    JobFailed,
    PlannedJob,
    SweepArguments,
    checked_plan,
    downstream_job,
    launches_one_process,
    parse_args,
    pretrain_job,
    run_job,
)

HF_SEQLEN = str(Path(sys.executable).with_name("hf-seqlen"))
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_arms_identical_but_for_their_names_show_no_difference(sweep_dir, tmp_path):
    copy = tmp_path / "study"
    shutil.copytree(sweep_dir / "1s", copy / "1s")
    shutil.copytree(sweep_dir / "1s", copy / "1s-again")
    arms = [{"name": "1s", "max_duration": 1.0}, {"name": "1s-again", "max_duration": 1.0, "schedule": "1:1"}]
    write_report(copy, arms, ["kws"], [0, 1])
    row = report_rows(copy)["1s-again"]
    assert float(row["kws_accuracy_diff_ci_low"]) <= 0 <= float(row["kws_accuracy_diff_ci_high"])
    assert "identical on every example in every seed" in (copy / "report.md").read_text()
    assert "better" not in (copy / "report.md").read_text() and "worse" not in (copy / "report.md").read_text()


@pytest.mark.slow
def test_adding_a_seed_runs_only_its_jobs_and_interrupted_ones_resume(sweep_dir):
    second_run = (sweep_dir.parent / "second_run.log").read_text()
    for finished in ("1s seed 0 pre-training", "1s seed 0 kws"):
        assert f"{finished}: finished earlier, skipped" in second_run
    for new in ("2s seed 0 kws", "1s seed 1 pre-training", "2s seed 1 kws"):
        assert f"{new}: running" in second_run
    assert "resumed from" in (sweep_dir / "2s" / "seed-0" / "pretrain.log").read_text()
    assert report_rows(sweep_dir)["1s"]["seeds"] == "2"


@pytest.mark.slow
def test_a_rewritten_card_keeps_the_sweeps_section(sweep_dir, tmp_path):
    pretrain = tmp_path / "pretrain"
    shutil.copytree(sweep_dir / "2s" / "seed-0" / "pretrain", pretrain)
    card = refresh_card(pretrain, "someone/w2v2-2s").read_text()
    assert "someone/w2v2-2s" in card and card.count("## In the sequence-length study") == 1


def test_every_job_reads_the_sweeps_corpus_unless_its_own_options_name_data(tmp_path):
    arm = {"name": "2s", "max_duration": 2.0}
    args = SweepArguments(output_dir=str(tmp_path), data_dir="corpus")
    assert pretrain_job(args, arm, 0, tmp_path / "p").value("data_dir") == ("corpus",)
    assert downstream_job(args, tmp_path / "p", "kws", 0, tmp_path / "k").value("data_dir") == ("corpus",)
    args = SweepArguments(
        output_dir=str(tmp_path),
        data_dir="corpus",
        pretrain_args="--dataset_name=librispeech_asr",
        downstream_args="--data_dir mine",
        task_args=["asr: --dataset_name librispeech_asr"],
    )
    assert pretrain_job(args, arm, 0, tmp_path / "p").value("data_dir") is None
    assert downstream_job(args, tmp_path / "p", "kws", 0, tmp_path / "k").value("data_dir") == ("mine",)


def test_every_budget_is_an_option_of_the_sweep_and_of_run_pretrain_under_one_name():
    run_pretrain_dataclasses = (ModelArguments, DataArguments, PretrainingArguments)
    run_pretrain_options = {f.name for dataclass in run_pretrain_dataclasses for f in fields(dataclass)}
    for budget in BUDGETS.values():
        assert budget.option in {f.name for f in fields(SweepArguments)} and budget.option in run_pretrain_options


def test_a_budget_reaches_pretraining_under_the_name_it_has_in_the_sweep(tmp_path):
    arm = {"name": "2s", "max_duration": 2.0}
    for budget, name, value in [
        ("steps", "max_train_steps", 7),
        ("audio_hours", "max_train_audio_hours", 0.5),
        ("flops", "max_train_flops", 1e15),
    ]:
        args = SweepArguments(
            output_dir=str(tmp_path),
            data_dir="corpus",
            budget=budget,
            max_train_steps=7,
            max_train_audio_hours=0.5,
            max_train_flops=1e15,
        )
        job = pretrain_job(args, arm, 0, tmp_path / "p")
        assert job.value(name) == (str(value),) and sum(n.startswith("max_train_") for n, _ in job.options) == 1


def test_a_jobs_own_option_replaces_the_sweeps_and_each_option_is_launched_once(tmp_path):
    args = SweepArguments(
        output_dir=str(tmp_path),
        data_dir="corpus",
        downstream_max_steps=20,
        downstream_args="--freeze_upstream --max-steps 30 --seed 9",
        task_args=["er: --max_steps 5", "kws: --keep_labels yes no"],
    )
    er = downstream_job(args, tmp_path / "p", "er", 0, tmp_path / "er")
    kws = downstream_job(args, tmp_path / "p", "kws", 0, tmp_path / "kws")
    assert er.value("max_steps") == ("5",) and kws.value("max_steps") == ("30",) and er.value("seed") == ("9",)
    assert kws.value("keep_labels") == ("yes", "no") and kws.value("freeze_upstream") == ()
    for job in (er, kws):
        options = [word for word in launch(job, None) if word.startswith("--")]
        assert len(options) == len(set(options)), options


def test_no_job_of_the_paper_recipe_has_an_option_twice_and_its_tasks_own_values_win():
    args = parse_args(["--config", str(REPO / "recipes" / "librispeech-960h-superb.yaml"), "--output_dir", "study"])
    checked = checked_plan(args)
    assert len(checked.jobs) == len(checked.parsed) == 30
    for job in checked.jobs:
        names = [name for name, _ in job.job.options]
        assert len(names) == len(set(names)), job.name
    steps = {job.task: job.job.value("max_steps") for job in checked.jobs if job.task}
    assert steps == {"kws": ("20000",), "asr": ("20000",), "er": ("5000",), "sid": ("20000",)}


def fake_gpus(monkeypatch, count: int) -> None:
    """This CPU machine as one with `count` CUDA GPUs, to what `accelerate launch` reads to count devices with no
    config (accelerate.utils.imports.get_torch_accelerator_backend): there is no GPU here to count."""
    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda *_: torch.device("cuda"))
    monkeypatch.setattr(accelerate.utils.imports, "is_cuda_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_probes_run_in_the_sweeps_process_only_where_a_launch_would_start_one_plain_process(tmp_path, monkeypatch):
    monkeypatch.setattr(accelerate_config, "default_config_file", str(tmp_path / "default_config.yaml"))
    assert launches_one_process(SweepArguments(output_dir="study"))  # this machine: no GPU
    assert not launches_one_process(SweepArguments(output_dir="study", accelerate_config="multi_gpu.yaml"))
    (tmp_path / "default_config.yaml").write_text("distributed_type: MULTI_GPU\nnum_processes: 8\n")
    assert not launches_one_process(SweepArguments(output_dir="study"))


@pytest.mark.parametrize("gpus, in_this_process", [(1, True), (2, False), (8, False)])
def test_with_no_accelerate_config_a_machine_of_several_gpus_launches_its_probes(
    tmp_path, monkeypatch, gpus, in_this_process
):
    """`accelerate launch` with no config starts one process per GPU."""
    monkeypatch.setattr(accelerate_config, "default_config_file", str(tmp_path / "default_config.yaml"))
    fake_gpus(monkeypatch, gpus)
    assert launches_one_process(SweepArguments(output_dir="study")) == in_this_process


def test_a_job_run_here_leaves_its_output_and_its_failure_in_its_log(tmp_path, capfd):
    job = Job(
        "downstream",
        (
            option("task", "kws"),
            option("model_name_or_path", tmp_path / "no-upstream"),
            option("output_dir", tmp_path / "kws"),
        ),
    )
    threads = torch.get_num_threads()
    with pytest.raises(JobFailed, match="kws failed"):
        run_job(PlannedJob("kws", {"name": "2s"}, "kws", job, tmp_path / "kws.log"), None, here=downstream_main)
    log = (tmp_path / "kws.log").read_text()
    assert log.startswith("$ ") and "no-upstream" in log.splitlines()[-1]
    assert capfd.readouterr().err == "" and torch.get_num_threads() == threads
