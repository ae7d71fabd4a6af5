"""Sweep recipes: a whole study's `hf-seqlen sweep` options in one .yaml or .json file (see recipes/).

    hf-seqlen sweep --config recipes/librispeech-960h-superb.yaml --dry_run

A recipe holds sweep options under their own names, with two things the command line says less readably:
`pretrain_args` and `downstream_args` may be mappings of run_pretrain / run_downstream options, and `tasks`
may map each task to the run_downstream options of that task alone (--task_args). A recipe stands for the
command-line options it spells (a mapping of options is spelled as the one quoted string its sweep option takes);
they go before the options typed beside --config, so what is typed wins.
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

from ..option_parsing import (
    UsageError,
    closest,
    option_words,
    parse_dataclasses,
    raising_usage_errors,
    read_options_file,
    split_options_file,
)

NESTED_OPTIONS = ("pretrain_args", "downstream_args")


def recipe_words(path: Path, sweep_arguments: type) -> list[str]:
    """The recipe as `hf-seqlen sweep` command-line options."""
    recipe = read_options_file(path)
    if "output_dir" not in recipe:
        raise UsageError(
            "no output_dir: a recipe names where its study goes (output_dir: study-NAME); "
            "--output_dir beside --config can still move it."
        )
    valid = [f.name for f in dataclasses.fields(sweep_arguments) if f.init and f.name != "config"]
    words = []
    for key, value in recipe.items():
        if key not in valid:
            match = closest(key, valid)
            raise UsageError(
                f"unknown key {key!r}"
                + (f" (did you mean {match!r}?)" if match else "")
                + f"; a recipe's keys are `hf-seqlen sweep` options: {', '.join(valid)}."
            )
        if key in NESTED_OPTIONS and isinstance(value, dict):
            value = shlex.join(option_words(value, key))
        elif key == "tasks" and isinstance(value, dict):
            own = {task: shlex.join(option_words(options or {}, f"tasks: {task}")) for task, options in value.items()}
            words += ["--task_args", *(f"{task}: {text}" for task, text in own.items() if text)]
            value = list(value)
        words += option_words({key: value}, key)
    return words


def with_recipe(argv: list[str], sweep_arguments: type) -> list[str]:
    """argv with the options of its --config recipe put first, after checking the recipe on its own, so
    that a mistake in it is named as the recipe's. An options file given alone is a recipe too. The sweep keeps
    --config among its options (its plan names the recipe), so the recipe is read here, not by the parser."""
    path, rest = split_options_file(argv)
    if not path:
        return argv
    try:
        words = recipe_words(Path(path), sweep_arguments)
        with raising_usage_errors():
            parse_dataclasses(sweep_arguments, words)
    except UsageError as error:
        raise UsageError(f"recipe {path}: {error}") from None
    return [*words, "--config", path, *rest]
