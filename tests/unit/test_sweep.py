"""`hf-seqlen sweep` end to end: real pre-training and fine-tuning jobs per seed, the report, and resuming; and the
jobs a sweep plans, each an entry point with its options, each option once."""

from dataclasses import fields

import accelerate.commands.config as accelerate_config
import accelerate.utils.imports
import pytest
import torch

from helpers import REPO
from hf_seqlen.cli import downstream_main
from hf_seqlen.pretrain.args import DataArguments, ModelArguments, PretrainingArguments
from hf_seqlen.study.arm import Arm
from hf_seqlen.study.budgets import BUDGETS
from hf_seqlen.study.job import Job, launch, setting
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


def test_every_job_reads_the_sweeps_corpus_unless_its_own_options_name_data(tmp_path):
    arm = Arm.fixed(2.0)
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
    arm = Arm.fixed(2.0)
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
        assert job.value(name) == (str(value),) and sum(n.startswith("max_train_") for n, _ in job.settings) == 1


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
        names = [name for name, _ in job.job.settings]
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
            setting("task", "kws"),
            setting("model_name_or_path", tmp_path / "no-upstream"),
            setting("output_dir", tmp_path / "kws"),
        ),
    )
    threads = torch.get_num_threads()
    with pytest.raises(JobFailed, match="kws failed"):
        run_job(PlannedJob("kws", Arm.fixed(2.0), "kws", job, tmp_path / "kws.log"), None, here=downstream_main)
    log = (tmp_path / "kws.log").read_text()
    assert log.startswith("$ ") and "no-upstream" in log.splitlines()[-1]
    assert capfd.readouterr().err == "" and torch.get_num_threads() == threads
