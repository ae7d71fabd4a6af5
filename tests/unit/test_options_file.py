"""--config FILE on every entry point: a .json or .yaml file of options, with the options typed beside it winning,
and a mistake in it one line naming the file and the closest valid name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hf_seqlen.cli import main
from hf_seqlen.downstream.args import parse_args as parse_downstream_args
from hf_seqlen.pretrain.args import parse_args as parse_pretrain_args
from hf_seqlen.publishing.push import parse_push_args
from hf_seqlen.study.recommend import parse_args as parse_recommend_args
from hf_seqlen.study.sweep import parse_args as parse_sweep_args


def options_file(path: Path, options: dict) -> str:
    path.write_text(json.dumps(options) if path.suffix == ".json" else yaml.safe_dump(options))
    return str(path)


def test_run_pretrain_takes_a_config_file_and_the_command_line_wins(tmp_path):
    path = options_file(tmp_path / "run.yaml", {"max_duration": 2, "crop_mode": "chunk", "seed": 7})
    _, data, train = parse_pretrain_args(["--config", path, "--max_duration", "4"])
    assert (data.max_duration, data.crop_mode, train.seed) == (4.0, "chunk", 7)
    assert parse_pretrain_args([f"--config={path}"]) == parse_pretrain_args([path])  # the lone file still works


def test_run_downstream_takes_a_config_file_with_its_required_options_and_the_command_line_wins(tmp_path):
    path = options_file(
        tmp_path / "kws.json",
        {"task": "kws", "model_name_or_path": "up", "output_dir": "out", "freeze_upstream": True, "max_steps": 7},
    )
    args, training_args = parse_downstream_args(["--config", path, "--max_steps", "9"], check_sources=False)
    assert (args.task, args.freeze_upstream, training_args.max_steps) == ("kws", True, 9)
    assert training_args.learning_rate == 3e-2  # the probe's default, as without a file
    # The file may leave a required option to the command line.
    partial = options_file(tmp_path / "probe.yaml", {"freeze_upstream": True, "output_dir": "out"})
    args, _ = parse_downstream_args(
        ["--config", partial, "--task", "sid", "--model_name_or_path", "up"], check_sources=False
    )
    assert (args.task, args.freeze_upstream) == ("sid", True)


def test_recommend_and_sweep_take_a_config_file_and_the_command_line_wins(tmp_path):
    path = options_file(tmp_path / "recommend.yaml", {"split": "test", "tolerance": 2.5})
    args = parse_recommend_args(["--config", path, "--tolerance", "0.5"])
    assert (args.split, args.tolerance) == ("test", 0.5)
    recipe = options_file(tmp_path / "study.yaml", {"output_dir": "study", "durations": [1, 2], "seeds": [0, 1]})
    args = parse_sweep_args(["--config", recipe, "--seeds", "3"])
    assert (args.durations, args.seeds, args.config) == ([1.0, 2.0], [3], recipe)


def test_push_takes_a_config_file_and_a_folder_typed_beside_it_wins(tmp_path):
    options = {"output_dir": "kws-2s", "hub_model_id": "me/kws", "hub_private_repo": True}
    path = options_file(tmp_path / "push.yaml", options)
    args = parse_push_args(["--config", path])
    assert (args.output_dir, args.hub_model_id, args.hub_private_repo) == (Path("kws-2s"), "me/kws", True)
    args = parse_push_args(["other-run", "--config", path, "--hub_model_id", "me/other"])
    assert (args.output_dir, args.hub_model_id) == (Path("other-run"), "me/other")


# (the command's words before --config, the file's options with one mistyped key, the key it should suggest)
MISTYPED_KEYS = {
    "run_pretrain.py": (["pretrain"], {"max_durration": 2}, "max_duration"),
    "run_downstream.py": (["downstream"], {"task": "kws", "learnig_rate": 1e-3}, "learning_rate"),
    "hf-seqlen push": (["push", "out"], {"hub_model_idd": "me/model"}, "hub_model_id"),
    "hf-seqlen sweep": (["sweep"], {"output_dir": "study", "seedz": [0]}, "seeds"),
    "hf-seqlen recommend": (["recommend"], {"data_dirr": "audio"}, "data_dir"),
}


@pytest.mark.parametrize("entry_point", MISTYPED_KEYS)
def test_a_mistyped_key_in_a_config_file_is_one_line_naming_the_file_and_the_closest_key(entry_point, tmp_path, capsys):
    """`hf-seqlen pretrain` and `hf-seqlen downstream` are what run_pretrain.py and run_downstream.py call."""
    words, options, suggestion = MISTYPED_KEYS[entry_point]
    path = options_file(tmp_path / "options.yaml", options)
    try:
        status = main([*words, "--config", path])
    except SystemExit as exit:
        status = exit.code
    assert status == 2
    err = capsys.readouterr().err
    typo = next(key for key in options if key not in ("task", "output_dir"))
    assert err.count("\n") == 1 and err.startswith("hf_seqlen error: ")
    assert path in err and f"unknown key '{typo}' (did you mean '{suggestion}'?)" in err


@pytest.mark.parametrize(
    "options, message",
    [
        ({"crop_mode": "chnk"}, "options.yaml: argument --crop_mode/--crop-mode: invalid choice: 'chnk'"),
        ({"max_duration": "two"}, "options.yaml: argument --max_duration/--max-duration: invalid float value: 'two'"),
        ({"mask_time_prob": None}, "options.yaml: mask_time_prob: None is not an option value"),
    ],
)
def test_a_bad_value_in_a_config_file_is_named_as_the_files(options, message, tmp_path, capsys):
    path = options_file(tmp_path / "options.yaml", options)
    with pytest.raises(SystemExit) as exit:
        parse_pretrain_args(["--config", path, "--max_duration", "4"])
    assert exit.value.code == 2
    assert message in capsys.readouterr().err


def test_config_without_a_file_and_a_missing_file_are_one_line(tmp_path, capsys):
    for argv, message in (
        (["--config"], "--config needs a file"),
        (["--config", str(tmp_path / "nowhere.yaml")], "nowhere.yaml: No such file or directory"),
    ):
        with pytest.raises(SystemExit):
            parse_pretrain_args(argv)
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err


def test_help_of_every_entry_point_names_config(capsys):
    for words in (["pretrain"], ["downstream"], ["push"], ["sweep"], ["recommend"]):
        with pytest.raises(SystemExit):
            main([*words, "--help"])
        assert "--config" in capsys.readouterr().out, words
