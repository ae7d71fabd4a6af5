"""Sweep recipes: `hf-seqlen sweep --config RECIPE --dry_run` checks every job offline and prints the plan;
mistakes in a recipe are one line naming where they are; the plan's cost estimates come from measurements only;
and the data option the Speech Commands recipe needs (--keep_labels)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers import REPO, run_accelerate
from sweep_commands import dry_run, planned_commands, sweep_exit

RECIPES = sorted((REPO / "recipes").glob("*.yaml"))


PAPER_RECIPE = REPO / "recipes" / "librispeech-960h-superb.yaml"


@pytest.fixture(scope="module")
def recipe_dry_runs(tmp_path_factory) -> dict[Path, tuple[subprocess.CompletedProcess, Path]]:
    """Each recipe's dry run as a user types it, once per module, each in an empty folder of its own."""
    runs = {}
    for recipe in RECIPES:
        cwd = tmp_path_factory.mktemp(recipe.stem)
        runs[recipe] = dry_run("--config", str(recipe), cwd=cwd), cwd
    return runs


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
