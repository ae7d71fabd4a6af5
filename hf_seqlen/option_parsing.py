"""Reading a command's options: from the command line, and from a .json / .yaml options file (`--config FILE`, or
the file given alone).

An options file stands for the command-line options it spells: its keys are option names without --, and its
options go before those typed beside it, so what is typed wins (the sweep's recipes, recipe.py, read the same way).
Every entry point parses through here, so a mistake reads the same everywhere: one line on stderr, exit
status 2 (argparse's status for a usage error), and an unknown option or key names the closest valid one.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import difflib
import json
import sys
from contextvars import ContextVar
from pathlib import Path
from typing import NoReturn

import yaml
from transformers import HfArgumentParser

OPTIONS_FILE_SUFFIXES = (".json", ".yaml", ".yml")
HELP_HINT = "--help lists every option."
CONFIG_OPTION = "--config"
CONFIG_HELP = (
    "A .json or .yaml file of these options (names without --, e.g. max_duration: 2); options given beside it "
    "win. The file given alone works too."
)

# Set while a caller parses options on the user's behalf (a sweep checking its jobs): a mistake then raises
# instead of exiting, so the caller can say which job or recipe key it came from.
_RAISING = ContextVar("raising_usage_errors", default=False)


class UsageError(ValueError):
    """A mistake in the arguments: reported in one line before any heavy work starts."""


def error_line(message: object, kind: str = "error") -> str:
    """How every user error is printed."""
    return f"hf_seqlen {kind}: {message}"


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def closest(name: str, valid: list[str]) -> str | None:
    matches = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    return matches[0] if matches else None


def is_options_file(argv: list[str]) -> bool:
    return len(argv) == 1 and not argv[0].startswith("-") and argv[0].endswith(OPTIONS_FILE_SUFFIXES)


def split_options_file(argv: list[str]) -> tuple[str | None, list[str]]:
    """The options file of argv (`--config FILE`, `--config=FILE`, or a file given alone) and the other words."""
    if is_options_file(argv):
        return argv[0], []
    path, rest = None, []
    words = iter(argv)
    for text in words:
        if text == CONFIG_OPTION:
            path = next(words, None)
            if path is None:
                raise UsageError(f"{CONFIG_OPTION} needs a file: {CONFIG_OPTION} OPTIONS.yaml.")
        elif text.startswith(CONFIG_OPTION + "="):
            path = text.split("=", 1)[1]
        else:
            rest.append(text)
    return path, rest


def word(value: object) -> str:
    """One value as a command-line word; booleans as true / false, as HfArgumentParser reads them."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def option_words(options: dict, where: str = "") -> list[str]:
    """A mapping of options as command-line words: {"max_duration": 2, "splits": ["a", "b"]} ->
    --max_duration 2 --splits a b. Booleans are written true/false, as HfArgumentParser reads them.
    `where` leads an error's message: the part of a file the options came from."""
    words = []
    for name, value in options.items():
        at = f"{where}: {name}" if where else name
        if value is None or isinstance(value, dict) or value == []:
            raise UsageError(f"{at}: {value!r} is not an option value; give one, or leave the key out for its default.")
        if isinstance(value, list) and any(isinstance(item, bool) for item in value):
            raise UsageError(f'{at}: YAML reads a bare yes, no, on or off as true or false; quote such words ("yes").')
        words += [f"--{name}", *(word(item) for item in (value if isinstance(value, list) else [value]))]
    return words


def unknown_keys_message(unknown: list[str], valid: list[str]) -> str:
    named = [repr(key) + (f" (did you mean {match!r}?)" if (match := closest(key, valid)) else "") for key in unknown]
    return f"unknown key{'s' if len(named) > 1 else ''} {', '.join(named)}"


def read_options_file(path: Path) -> dict:
    """The options in a .json or .yaml file, as a mapping of option names (without --) to values."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"options file {path}: {error.strerror or error}.") from None
    try:
        options = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise UsageError(f"options file {path} does not parse: {one_line(error)}") from None
    if not isinstance(options, dict):
        raise UsageError(f"options file {path}: expected a mapping of option names to values.")
    return options


def is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


@contextlib.contextmanager
def raising_usage_errors():
    """Within it, a parser's mistake raises UsageError with its one-line message instead of exiting."""
    token = _RAISING.set(True)
    try:
        yield
    finally:
        _RAISING.reset(token)


class OptionParser(argparse.ArgumentParser):
    """argparse whose every mistake is one line and exit status 2 (no usage block), and whose parse_args
    names each unknown option with the closest valid one. With `add_config_option`, it reads --config FILE."""

    reads_options_file = False

    def error(self, message: str) -> NoReturn:
        message = message if message.endswith((".", "?")) else f"{message}."
        if _RAISING.get():
            raise UsageError(message)
        self.exit(2, error_line(f"{message} {HELP_HINT}") + "\n")

    def parse_args(self, args=None, namespace=None):
        args = self.with_options_file(sys.argv[1:] if args is None else list(args))
        self.refuse_unknown(args)
        return super().parse_args(args, namespace)

    def add_config_option(self) -> None:
        # Never in the parsed options: with_options_file has put the file's options in its place.
        self.add_argument(CONFIG_OPTION, metavar="FILE", help=CONFIG_HELP, default=argparse.SUPPRESS)
        self.reads_options_file = True

    def long_options(self) -> dict[str, str]:
        """Every --option spelling, mapped to the canonical spelling of its option."""
        spellings = {}
        for action in self._actions:
            long = [option for option in action.option_strings if option.startswith("--")]
            spellings.update({option: long[0] for option in long})
        return spellings

    @contextlib.contextmanager
    def required_relaxed(self):
        """Within it, no option is required: for checking part of what will be parsed."""
        required = [action for action in self._actions if action.required]
        for action in required:
            action.required = False
        try:
            yield
        finally:
            for action in required:
                action.required = True

    def refuse_unknown(self, args: list[str] | None) -> None:
        """Name unknown options (not their values) or stray words. Checked before required options, since a
        mistyped required option would otherwise read as a missing one."""
        with self.required_relaxed():
            extra = self.parse_known_args(args)[1]
        if not extra:
            return
        options = [word.split("=", 1)[0] for word in extra if word.startswith("-") and not is_number(word)]
        if not options:
            self.error(f"unexpected argument {' '.join(extra)}")
        spellings = self.long_options()
        named = [
            option + (f" (did you mean {spellings[match]}?)" if (match := closest(option, list(spellings))) else "")
            for option in options
        ]
        self.error(f"unknown option{'s' if len(named) > 1 else ''} {', '.join(named)}")

    def with_options_file(self, argv: list[str]) -> list[str]:
        """argv with its options file's options put first, so the options typed beside the file win. The file's
        keys, types and choices are checked on their own, so a mistake in it is named as the file's."""
        if not self.reads_options_file:
            return argv
        try:
            path, rest = split_options_file(argv)
            if path is None:
                return argv
            options = read_options_file(Path(path))
        except UsageError as error:
            self.error(str(error))
        try:
            with raising_usage_errors():
                words = self.options_file_words(options, rest)
                with self.required_relaxed():
                    self.parse_known_args(words)
        except UsageError as error:
            self.error(f"{path}: {error}")
        return words + rest

    def options_file_words(self, options: dict, rest: list[str]) -> list[str]:
        """An options file's mapping as command-line words. A flag (store_true) is written bare when true; a
        positional argument's value is used only when the command line gives none."""
        actions: dict[str, argparse.Action] = {}
        for action in self._actions:  # the first action of a name: --x before the --no_x that clears it
            if action.dest not in (argparse.SUPPRESS, "help", CONFIG_OPTION[2:]):
                actions.setdefault(action.dest, action)
        if unknown := [key for key in options if key not in actions]:
            self.error(unknown_keys_message(unknown, list(actions)))
        words, positional = [], []
        for name, value in options.items():
            action = actions[name]
            if not action.option_strings:
                positional.append((name, value))
            elif action.nargs == 0:  # a flag: present or absent
                words += [action.option_strings[0]] if value is True else []
            else:
                words += option_words({name: value})
        if positional:
            with self.required_relaxed():
                typed = vars(self.parse_known_args(rest)[0])
            words += [word(value) for name, value in positional if typed.get(name) is None]
        return words


class OneSpellingHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """--help names each option once, by its underscore spelling; the dash spelling (--output-dir) still parses."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        spellings = action.option_strings
        shown = copy.copy(action)
        shown.option_strings = [
            option
            for option in spellings
            if not (option.startswith("--") and "-" in option[2:] and "--" + option[2:].replace("-", "_") in spellings)
        ]
        return super()._format_action_invocation(shown)


class DataclassParser(OptionParser, HfArgumentParser):
    """HfArgumentParser with OptionParser's one-line errors, for the command line and options files alike."""

    def __init__(self, dataclass_types, **kwargs) -> None:
        kwargs.setdefault("usage", "%(prog)s [--config OPTIONS.yaml] [--option value ...]")
        kwargs.setdefault("formatter_class", OneSpellingHelpFormatter)
        # No abbreviated options: with both --a_b and --a-b spellings every prefix would be ambiguous.
        super().__init__(dataclass_types, allow_abbrev=False, **kwargs)
        for action in self._actions:  # --help shows every default, also of options without a description
            if action.help is None and action.option_strings:
                action.help = "(default: %(default)s)"
        if "config" not in self.fields():  # a command with an option of that name reads its file itself
            self.add_config_option()

    def fields(self) -> dict[str, dataclasses.Field]:
        return {f.name: f for dtype in self.dataclass_types for f in dataclasses.fields(dtype) if f.init}

    def parse_command_line(self, argv: list[str]) -> tuple:
        argv = self.with_options_file(argv)
        self.refuse_unknown(argv)  # before the dataclasses run their own checks
        try:
            return self.parse_args_into_dataclasses(args=argv)
        except ValueError as error:  # a dataclass's own check of its values (__post_init__)
            self.error(one_line(error))


def parse_dataclasses(
    dataclass_types, argv: list[str] | None = None, prog: str | None = None, defaults: dict | None = None
) -> tuple:
    """The command line, with the options of its --config file (or of one .json / .yaml file given alone), as
    instances of the dataclasses. `defaults` replace the dataclasses' own defaults; what the user gives replaces
    both. Any mistake exits with one line and status 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = DataclassParser(dataclass_types, prog=prog)
    parser.set_defaults(**(defaults or {}))
    return parser.parse_command_line(argv)
