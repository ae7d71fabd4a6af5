"""Sweep recipes: `hf-seqlen sweep --config RECIPE --dry_run` checks every job offline and prints the plan;
mistakes in a recipe are one line naming where they are; the plan's cost estimates come from measurements only;
and the data option the Speech Commands recipe needs (--keep_labels)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from helpers import REPO
from hf_seqlen.corpus.demo_maker import cached_corpus_folder
from hf_seqlen.corpus.sources import DataSourceError
from hf_seqlen.downstream.args import DownstreamArguments, resolve
from hf_seqlen.downstream.data import label_names, load_task_splits
from hf_seqlen.study.arm import Arm
from hf_seqlen.study.job import Job, settings_from_words
from hf_seqlen.study.plan import benchmark_estimate, benchmark_problem, parse_job, this_machine
from sweep_commands import planned_commands, sweep_exit


def pretrain_job(*words: str) -> Job:
    return Job("pretrain", tuple(settings_from_words(words, "test")))


def write_recipe(path: Path, recipe: dict) -> Path:
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def test_plan_lists_jobs_in_run_order_and_the_command_line_wins_over_the_recipe(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_SEQLEN_CACHE", str(tmp_path / "cache"))
    recipe = write_recipe(
        tmp_path / "small.yaml",
        {
            "output_dir": str(tmp_path / "study"),
            "durations": [1, 2],
            "seeds": [0, 1],
            "max_train_steps": 7,
            "pretrain_args": {"per_device_train_batch_size": 4},
            "downstream_args": {"freeze_upstream": True},
            "tasks": {"kws": {"max_duration": 0.8}, "asr": None},
        },
    )
    assert sweep_exit(["--config", str(recipe), "--seeds", "1", "--dry_run"]) == 0
    out = capsys.readouterr().out
    names = re.findall(r"^\[\d+/6\] (.+) \(log", out, flags=re.M)
    assert names == [
        "1s seed 1 pre-training",
        "1s seed 1 kws",
        "1s seed 1 asr",
        "2s seed 1 pre-training",
        "2s seed 1 kws",
        "2s seed 1 asr",
    ]
    commands = planned_commands(out)
    assert commands[0].endswith(
        f"pretrain --output_dir {tmp_path}/study/1s/seed-1/pretrain --seed 1 "
        f"--max_train_steps 7 --max_duration 1 --data_dir {cached_corpus_folder('large')} "
        "--per_device_train_batch_size 4"
    )
    assert commands[1].endswith("--freeze_upstream true --max_duration 0.8")
    assert commands[2].endswith("--freeze_upstream true")
    # a dry run names the default corpus without making it
    assert not (tmp_path / "study").exists() and not (tmp_path / "cache").exists()
    assert "The large demo corpus is made into" in out


def test_an_options_file_given_alone_is_read_as_a_recipe(tmp_path, capsys):
    recipe = write_recipe(
        tmp_path / "alone.yaml",
        {
            "output_dir": str(tmp_path / "study"),
            "durations": [2],
            "seeds": [0],
            "dry_run": True,
            "pretrain_args": "--seed 5",
            "tasks": {"sid": {"max_steps": 3}},
        },
    )
    assert sweep_exit([str(recipe)]) == 0
    commands = planned_commands(capsys.readouterr().out)
    assert (
        len(commands) == 2
        and "--max_duration 2 " in commands[0]
        and commands[0].endswith("--seed 5")
        and commands[1].endswith("--max_steps 3")
    )


@pytest.mark.parametrize(
    "recipe, named",
    [
        ({"durationz": [1]}, "unknown key 'durationz' (did you mean 'durations'?)"),
        ({"budget": "hours"}, "invalid choice: 'hours'"),
        ({"durations": ["one"]}, "--durations: invalid float value: 'one'"),
        (
            {"pretrain_args": {"max_durration": 2}},
            "job 1s seed 0 pre-training: unknown option --max_durration (did you mean --max_duration?)",
        ),
        (
            {"pretrain_args": {"min_duration": 3}},
            "job 1s seed 0 pre-training: --min_duration (3.0) is longer than --max_duration",
        ),
        ({"tasks": {"kws": {"max_duration": -1}}}, "job 1s seed 0 kws: --max_duration must be > 0 seconds"),
        ({"tasks": {"asr": {"keep_labels": ["a"]}}}, "job 1s seed 0 asr: --keep_labels is for classification tasks"),
        ({"tasks": {"kws": {"label_column_name": None}}}, "tasks: kws: label_column_name: None is not an option value"),
        (
            {"tasks": {"kws": {"keep_labels": [True, "up"]}}},
            "tasks: kws: keep_labels: YAML reads a bare yes, no, on or off",
        ),
    ],
)
def test_a_broken_recipe_is_one_line_naming_its_key_and_exit_2(recipe, named, tmp_path, capsys):
    path = write_recipe(
        tmp_path / "broken.yaml", {"output_dir": str(tmp_path / "study"), "durations": [1], "seeds": [0], **recipe}
    )
    assert sweep_exit(["--config", str(path), "--dry_run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"hf_seqlen error: recipe {path}") and named in err[0], err


def test_a_recipe_without_output_dir_says_to_name_one(tmp_path, capsys):
    path = write_recipe(tmp_path / "nowhere.yaml", {"durations": [1]})
    assert sweep_exit(["--config", str(path), "--output_dir", str(tmp_path / "study"), "--dry_run"]) == 2
    assert f"recipe {path}: no output_dir: a recipe names where its study goes" in capsys.readouterr().err


def test_a_broken_recipe_stops_the_user_command_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_recipe(
        tmp_path / "broken.yaml", {"output_dir": "study", "seeds": [0], "tasks": {"kws": {"dataset_nme": "x"}}}
    )
    assert sweep_exit(["--config", str(path), "--dry_run"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"hf_seqlen error: recipe {path}, job 1s seed 0 kws: "
        "unknown option --dataset_nme (did you mean --dataset_name?)."
    ]


def test_a_stray_word_among_a_jobs_options_is_named_with_its_sweep_option(tmp_path, capsys):
    assert (
        sweep_exit(
            [
                "--output_dir",
                str(tmp_path / "study"),
                "--data_dir",
                str(tmp_path),
                "--pretrain_args",
                "seed 3",
                "--dry_run",
            ]
        )
        == 2
    )
    assert capsys.readouterr().err.strip().splitlines() == [
        "hf_seqlen error: --pretrain_args: 'seed' is no option; give options as --NAME VALUE ..."
    ]


def test_a_real_sweep_checks_every_job_before_the_first_starts(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_SEQLEN_CACHE", str(tmp_path / "cache"))
    code = sweep_exit(
        [
            "--output_dir",
            str(tmp_path / "study"),
            "--tasks",
            "kws",
            "asr",
            "--task_args",
            "asr: --text_column_nam words",
        ]
    )
    assert code == 2 and "unknown option --text_column_nam" in capsys.readouterr().err
    assert not (tmp_path / "study").exists()  # the first pre-training never started
    assert not (tmp_path / "cache").exists()  # nor was the default corpus made for it


def test_the_benchmark_serves_only_the_machine_it_was_measured_on():
    benchmark = json.loads((REPO / "benchmarks" / "results" / "scaling.json").read_text())
    here = this_machine()
    assert benchmark_problem({**benchmark, "machine": {**benchmark["machine"], **here}}, here) is None
    elsewhere = {**here, "cpu_model": "Another CPU"}
    assert "measured on Another CPU" in benchmark_problem({**benchmark, "machine": elsewhere}, here)


def test_benchmark_estimate_is_updates_times_audio_over_the_measured_rate():
    benchmark = json.loads((REPO / "benchmarks" / "results" / "scaling.json").read_text())
    parsed = parse_job(
        pretrain_job("--max_duration", "2", "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "2")
    )
    points = [
        p
        for curve in benchmark["results"]["curves"]
        for p in curve["points"]
        if p["config_name"] == "wav2vec2-tiny" and p["seconds"] == 2.0
    ]
    rate = max(points, key=lambda p: p["samples"])["audio_seconds_per_second"]  # the largest measured batch
    line = benchmark_estimate(benchmark, "scaling.json", Arm.fixed(2.0), parsed, 300, None)
    assert line.startswith(f"{300 * 32 / rate / 3600:,.3g} h per seed (estimate: 300 updates of at most 32 s of audio")
    by_hours = benchmark_estimate(benchmark, "scaling.json", Arm.fixed(2.0), parsed, None, 1.0)
    assert by_hours.startswith(f"{3600 / rate / 3600:,.3g} h per seed (estimate: 112 updates")
    unmeasured = parse_job(pretrain_job("--max_duration", "3"))
    assert benchmark_estimate(benchmark, "scaling.json", Arm.fixed(3.0), unmeasured, 300, None) is None


def test_keep_labels_merges_every_other_label_into_unknown_in_every_split():
    splits = load_task_splits(
        resolve(DownstreamArguments(task="kws", model_name_or_path="unused", keep_labels=["yes", "no"])).data
    )
    for split in splits.values():
        labels = label_names(split, "keyword")
        assert set(labels) == {"yes", "no", "_unknown_"} and labels.count("_unknown_") == 8 * labels.count("yes")


def test_keep_labels_names_a_label_the_training_split_lacks():
    with pytest.raises(
        DataSourceError, match=r"--keep_labels yess: no such label in column 'keyword' .*\(it has: down, go"
    ):
        load_task_splits(
            resolve(DownstreamArguments(task="kws", model_name_or_path="unused", keep_labels=["yes", "yess"])).data
        )
