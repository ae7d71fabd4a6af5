"""Argument mistakes cost seconds: one clear line, a non-zero exit, before any model or data loads."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from hf_seqlen.cli import COMMANDS, downstream_main, main, pretrain_main
from hf_seqlen.corpus.sources import BatchPlan
from hf_seqlen.downstream.args import parse_args as parse_downstream_args
from hf_seqlen.pretrain.args import parse_args, resolve, validate
from option_mistakes import typo_message

MISTAKES = {
    "unknown config path": (["--config_name", "./no/such/config"], "no config.json there"),
    "missing data dir": (["--data_dir", "/no/such/audio"], "no such directory"),
    "zero max duration": (["--max_duration", "0"], "--max_duration must be > 0"),
    "negative max duration": (["--max_duration", "-2"], "--max_duration must be > 0"),
    "negative validation cap": (["--max_eval_samples", "-1"], "--max_eval_samples must be >= 0"),
    "min above max": (["--max_duration", "2", "--min_duration", "3"], "Lower --min_duration"),
    "batch below one crop": (["--max_duration", "4", "--max_batch_seconds", "2"], "Raise it to at least"),
    "zero save minutes": (["--save_minutes", "0"], "--save_minutes must be > 0"),
    "negative checkpoint limit": (["--save_total_limit", "-1"], "0 keeps every checkpoint"),
    "zero ddp timeout": (["--ddp_timeout", "0"], "--ddp_timeout must be > 0"),
}


@pytest.mark.parametrize("name", MISTAKES)
def test_mistake_is_one_line_before_anything_loads(name, tmp_path, capsys, caplog):
    argv, explanation = MISTAKES[name]
    output_dir = tmp_path / "run"
    assert pretrain_main([*argv, "--output_dir", str(output_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hf_seqlen error: ") and explanation in err and "\n" not in err
    assert not output_dir.exists() and not caplog.records  # nothing was loaded or logged


def test_a_min_duration_too_short_to_mask_is_one_line(tmp_path, capsys):
    """Crops under one masked span (10 frames, 0.205 s for wav2vec2-tiny) would give a 0/0 diversity loss."""
    assert pretrain_main(["--min_duration", "0.1", "--output_dir", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after any library warning of the model's loading
    assert error.startswith("hf_seqlen error: --min_duration 0.1 s is too short to mask")
    assert "0.205 s" in error and "--min_duration 0.21 or more" in error


# (arguments as a user types them after the command, the mistyped option, the option it should suggest)
MISTYPED = {
    "run_pretrain.py": (pretrain_main, ["--max_durration", "2"], "--max_durration", "--max_duration"),
    "run_downstream.py": (
        downstream_main,
        ["--task", "kws", "--model_name_or_path", "up", "--output_dir", "out", "--learnig_rate", "1e-3"],
        "--learnig_rate",
        "--learning_rate",
    ),
    "hf-seqlen pretrain": (main, ["pretrain", "--crop-mod", "chunk"], "--crop-mod", "--crop_mode"),
    "hf-seqlen downstream": (main, ["downstream", "--freeze_upstrem"], "--freeze_upstrem", "--freeze_upstream"),
    "hf-seqlen push": (main, ["push", "out", "--hub_model_idd", "me/model"], "--hub_model_idd", "--hub_model_id"),
    "hf-seqlen sweep": (main, ["sweep", "--output_dirr", "study"], "--output_dirr", "--output_dir"),
    "hf-seqlen recommend": (main, ["recommend", "--data_dirr", "audio"], "--data_dirr", "--data_dir"),
}


@pytest.mark.parametrize("entry_point", MISTYPED)
def test_mistyped_option_is_one_line_naming_the_closest_option(entry_point, capsys):
    """run_pretrain.py and run_downstream.py call pretrain_main and downstream_main; hf-seqlen calls main."""
    command, argv, typo, suggestion = MISTYPED[entry_point]
    assert error_of(command, argv, capsys) == typo_message(typo, suggestion)


def test_hf_seqlen_help_says_what_each_command_does(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--help"])
    assert exit.value.code == 0
    listed = capsys.readouterr().out.split("commands:\n")[1].splitlines()
    described = {line.split()[0]: " ".join(line.split()[1:]) for line in listed}
    assert described.keys() == COMMANDS.keys() and all(len(text) > 20 for text in described.values())
    assert "(run_pretrain.py)" in described["pretrain"] and "--freeze_upstream" in described["downstream"]


def error_of(parse, argv: list[str], capsys) -> str:
    """What a parse that must refuse argv prints: exit status 2 and exactly one line."""
    with pytest.raises(SystemExit) as exit:
        parse(argv)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hf_seqlen error: ")
    return err.strip()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--bogus", "1"], "unknown option --bogus. --help lists every option."),  # nothing close: no guess
        (
            ["--max-durration=2", "--seedz", "3"],
            "unknown options --max-durration (did you mean --max_duration?), --seedz (did you mean --seed?).",
        ),
        (["--max_dur", "2"], "unknown option --max_dur (did you mean --max_duration?)."),  # no silent abbreviations
        (["--crop_mode", "randm"], "invalid choice: 'randm' (choose from 'random', 'chunk')."),
        (["--max_duration", "two"], "argument --max_duration/--max-duration: invalid float value: 'two'."),
        (["stray.txt"], "unexpected argument stray.txt."),
    ],
)
def test_every_parsing_mistake_is_one_line(argv, message, capsys):
    assert message in error_of(parse_args, argv, capsys)


@pytest.mark.parametrize(
    "name, text, message",
    [
        (
            "run.yaml",
            "max_duration: 2\nmax_durration: 4\n",
            "run.yaml: unknown key 'max_durration' (did you mean 'max_duration'?).",
        ),
        (
            "run.json",
            '{"crop_mode": "chnk"}',
            "run.json: argument --crop_mode/--crop-mode: invalid choice: 'chnk' (choose from 'random', 'chunk').",
        ),
        ("run.json", '{"max_duration": 2,}', "run.json does not parse: Expecting property name"),
        ("run.yaml", "- max_duration\n", "run.yaml: expected a mapping of option names to values."),
    ],
)
def test_options_file_mistakes_are_one_line(name, text, message, tmp_path, capsys):
    (tmp_path / name).write_text(text)
    assert message in error_of(parse_args, [str(tmp_path / name)], capsys)


def test_downstream_options_file_is_checked_and_gets_the_task_defaults(tmp_path, capsys):
    options = tmp_path / "kws.yaml"
    options.write_text("model_name_or_path: up\noutput_dir: out\nmax_steps: 7\n")
    assert "the following arguments are required: --task." in error_of(parse_downstream_args, [str(options)], capsys)
    options.write_text("task: kws\nmodel_name_or_path: up\noutput_dir: out\nmax_steps: 7\nlearnig_rate: 1\n")
    assert "unknown key 'learnig_rate' (did you mean 'learning_rate'?)" in error_of(
        parse_downstream_args, [str(options)], capsys
    )

    options.write_text("task: kws\nmodel_name_or_path: up\noutput_dir: out\nmax_steps: 7\n")
    from_file = parse_downstream_args([str(options)])
    from_command_line = parse_downstream_args(
        ["--task", "kws", "--model_name_or_path", "up", "--output_dir", "out", "--max_steps", "7"]
    )
    for parsed in (from_file, from_command_line):
        args, training_args = parsed
        assert (args.max_duration, training_args.learning_rate, training_args.max_steps) == (1.0, 3e-3, 7)


def test_pretrain_options_file_parses_as_the_command_line_does(tmp_path):
    options = tmp_path / "run.yaml"
    options.write_text("max_duration: 4\ncrop_mode: chunk\ntrain_split_name: [train, validation]\n")
    assert parse_args([str(options)]) == parse_args(
        ["--max_duration", "4", "--crop_mode", "chunk", "--train_split_name", "train", "validation"]
    )


def test_help_groups_model_data_and_training_options_with_defaults(capsys):
    with pytest.raises(SystemExit) as exit:
        parse_args(["--help"])
    assert exit.value.code == 0
    text = capsys.readouterr().out
    for heading in ("model arguments:", "data arguments:", "training arguments:"):
        assert heading in text
    model, data, training = (
        text.split(heading)[1].split("\n\n")[0]
        for heading in ("model arguments:", "data arguments:", "training arguments:")
    )
    assert "--config_name" in model and "--max_duration" not in model
    assert "--max_duration" in data and "--crop_mode" in data and "--learning_rate" not in data
    assert "--learning_rate" in training and "--max_train_steps" in training

    def entry(section: str, option: str) -> str:
        return " ".join(re.search(rf"^  {option} .*?(?=^  --|\Z)", section, re.S | re.M).group().split())

    assert entry(data, "--max_duration").endswith("cropped to this. (default: 2.0)")
    assert entry(training, "--adam_beta1").endswith("(default: 0.9)")  # an option without a description
    assert "--config-name" not in text and len(re.findall(r"^  --max_duration\b", text, flags=re.M)) == 1
    assert parse_args(["--max-duration", "4"])[1].max_duration == 4  # the dash spelling still parses, unlisted


def test_checking_changes_no_option_and_one_step_resolves_what_follows_from_them():
    parsed = parse_args(["--duration_schedule", "1:0.5,4:0.5", "--torch_compile", "--per_device_eval_batch_size", "2"])
    unchanged = copy.deepcopy(parsed)
    validate(*parsed, check_sources=False)
    assert parsed == unchanged
    options = resolve(*parsed[1:])
    assert options.max_duration == 4 and options.output_dir == Path("outputs/wav2vec2-pretrain-4s")
    assert options.train_batches == BatchPlan(4.0, "random", seed=42, min_duration=0.5, batch_size=8, length_buckets=8)
    assert options.eval_batches == BatchPlan(4.0, "random", seed=43, min_duration=0.5, batch_size=2, length_buckets=8)
    assert options.validation_split == "validation"  # the demo corpus has one
