"""Sweep recipes: `hf-seqlen sweep --config RECIPE --dry_run` checks every job offline and prints the plan;
mistakes in a recipe are one line naming where they are; the plan's cost estimates come from measurements only;
and the data option the Speech Commands recipe needs (--keep_labels)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import REPO, run_accelerate
from hf_seqlen.cli import sweep_main
from hf_seqlen.corpus.demo_maker import cached_corpus_folder
from hf_seqlen.corpus.sources import DataSourceError
from hf_seqlen.downstream.args import DownstreamArguments
from hf_seqlen.downstream.data import label_names, load_task_splits
from hf_seqlen.study.job import Job, options_from_words
from hf_seqlen.study.plan import benchmark_estimate, benchmark_problem, parse_job, this_machine

HF_SEQLEN = str(Path(sys.executable).with_name("hf-seqlen"))
RECIPES = sorted((REPO / "recipes").glob("*.yaml"))
PAPER_RECIPE = REPO / "recipes" / "librispeech-960h-superb.yaml"


def dry_run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The dry run as a user types it, through the `hf-seqlen` console script."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(
        [HF_SEQLEN, "sweep", *args, "--dry_run"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def recipe_dry_runs(tmp_path_factory) -> dict[Path, tuple[subprocess.CompletedProcess, Path]]:
    """Each recipe's dry run as a user types it, once per module, each in an empty folder of its own."""
    runs = {}
    for recipe in RECIPES:
        cwd = tmp_path_factory.mktemp(recipe.stem)
        runs[recipe] = dry_run("--config", str(recipe), cwd=cwd), cwd
    return runs


def planned_commands(stdout: str) -> list[str]:
    return [line.strip()[2:] for line in stdout.splitlines() if line.startswith("  $ ")]


def sweep_exit(argv: list[str]) -> int:
    """`hf-seqlen sweep ARGV` in this process: its exit status, whether returned or raised by the parser."""
    try:
        return sweep_main(argv)
    except SystemExit as exit:
        return exit.code


def pretrain_job(*words: str) -> Job:
    return Job("pretrain", tuple(options_from_words(words, "test")))


def write_recipe(path: Path, recipe: dict) -> Path:
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES, ids=[path.stem for path in RECIPES])
def test_every_recipe_passes_its_dry_run_offline_with_one_job_per_arm_seed_and_task(recipe, recipe_dry_runs):
    result, cwd = recipe_dry_runs[recipe]
    assert result.returncode == 0, result.stderr[-3000:]
    options = yaml.safe_load(recipe.read_text())
    arms = len(options.get("durations", [])) + len(options.get("duration_schedules", []))
    commands = planned_commands(result.stdout)
    assert len(commands) == arms * len(options["seeds"]) * (1 + len(options["tasks"]))
    assert sum(" hf_seqlen.cli pretrain " in c for c in commands) == arms * len(options["seeds"])
    assert not any(cwd.iterdir()), "a dry run must not write anything"
    assert "Expected pre-training cost per arm and seed (estimates" in result.stdout


@pytest.mark.slow
def test_the_paper_recipe_runs_the_studys_arms_and_superb_tasks(recipe_dry_runs):
    commands = planned_commands(recipe_dry_runs[PAPER_RECIPE][0].stdout)
    pretraining = [c for c in commands if " pretrain " in c]
    lengths = [re.search(r"--(max_duration|duration_schedule) (\S+)", c).group(2) for c in pretraining]
    assert lengths == ["1", "2", "4", "8", "16", "1:0.5,4:0.3,16:0.2"]
    assert all(
        "--config_name wav2vec2-base --dataset_name openslr/librispeech_asr --dataset_config_name all "
        "--train_split_name train.clean.100 train.clean.360 train.other.500" in c
        for c in pretraining
    )
    kws = next(c for c in commands if "--task kws" in c)
    # YAML reads a bare yes/no/on/off as a boolean: the recipe must keep them words.
    assert (
        "--dataset_name google/speech_commands --dataset_config_name v0.01 --label_column_name label "
        "--keep_labels yes no up down left right on off stop go _silence_"
    ) in kws
    datasets = {
        task: re.search(r"--(dataset_name|data_dir) (\S+)", next(c for c in commands if f"--task {task}" in c)).group(2)
        for task in ("kws", "asr", "er", "sid")
    }
    assert datasets == {
        "kws": "google/speech_commands",
        "asr": "openslr/librispeech_asr",
        "er": "Zahra99/IEMOCAP_Audio",
        "sid": "voxceleb1-iden",
    }
    assert (
        "Local data not on this machine, needed where the jobs run: voxceleb1-iden"
        in recipe_dry_runs[PAPER_RECIPE][0].stdout
    )


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


@pytest.mark.slow
def test_finished_seeds_give_the_arms_measured_cost_and_are_not_planned_again(tmp_path, capsys, monkeypatch):
    # The committed step-time benchmark may or may not have been measured on a machine like this one; the
    # finished-seed estimate must not depend on it, so the sweep is told it runs elsewhere.
    monkeypatch.setattr(
        "hf_seqlen.study.plan.this_machine", lambda: {"cpu_model": "another CPU", "cpu_cores": 1, "gpus": []}
    )
    seed_0 = tmp_path / "study" / "1s" / "seed-0" / "pretrain"
    result = run_accelerate(
        [
            "--max_duration",
            "1",
            "--max_train_steps",
            "2",
            "--max_eval_samples",
            "2",
            "--flops_counted_steps",
            "1",
            "--output_dir",
            str(seed_0),
            "--seed",
            "0",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    costs = json.loads((seed_0 / "costs.json").read_text())
    assert (
        sweep_exit(
            [
                "--output_dir",
                str(tmp_path / "study"),
                "--durations",
                "1",
                "2",
                "--seeds",
                "0",
                "1",
                "--tasks",
                "kws",
                "--max_train_steps",
                "2",
                "--dry_run",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "[done] 1s seed 0 pre-training: finished earlier, skipped" in out
    assert "1s seed 0 pre-training (log" not in out and "[1/7] 1s seed 0 kws" in out
    hours = costs["wall_clock_seconds"] / 3600
    assert (
        f"  1s: {hours:,.3g} h wall-clock, {costs['device_hours']:,.3g} device-hours per seed (estimate: the mean "
        "of its 1 finished seed(s) here, costs.json, on 1 x "
    ) in out
    assert "scaling.json cannot serve: it was measured on" in out
    assert "  2s: no estimate: no finished seed of this arm here" in out


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
    line = benchmark_estimate(benchmark, "scaling.json", {"name": "2s", "max_duration": 2.0}, parsed, 300, None)
    assert line.startswith(f"{300 * 32 / rate / 3600:,.3g} h per seed (estimate: 300 updates of at most 32 s of audio")
    by_hours = benchmark_estimate(benchmark, "scaling.json", {"name": "2s", "max_duration": 2.0}, parsed, None, 1.0)
    assert by_hours.startswith(f"{3600 / rate / 3600:,.3g} h per seed (estimate: 112 updates")
    unmeasured = parse_job(pretrain_job("--max_duration", "3"))
    assert (
        benchmark_estimate(benchmark, "scaling.json", {"name": "3s", "max_duration": 3.0}, unmeasured, 300, None)
        is None
    )


def test_keep_labels_merges_every_other_label_into_unknown_in_every_split():
    splits = load_task_splits(DownstreamArguments(task="kws", model_name_or_path="unused", keep_labels=["yes", "no"]))
    for split in splits.values():
        labels = label_names(split, "keyword")
        assert set(labels) == {"yes", "no", "_unknown_"} and labels.count("_unknown_") == 8 * labels.count("yes")


def test_keep_labels_names_a_label_the_training_split_lacks():
    with pytest.raises(
        DataSourceError, match=r"--keep_labels yess: no such label in column 'keyword' .*\(it has: down, go"
    ):
        load_task_splits(DownstreamArguments(task="kws", model_name_or_path="unused", keep_labels=["yes", "yess"]))
