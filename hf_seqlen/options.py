"""Reading a command's options: from the command line, or from one .json / .yaml options file given alone.

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
    return len(argv) == 1 and argv[0].endswith(OPTIONS_FILE_SUFFIXES)


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
    names each unknown option with the closest valid one."""

    def error(self, message: str) -> NoReturn:
        message = message if message.endswith((".", "?")) else f"{message}."
        if _RAISING.get():
            raise UsageError(message)
        self.exit(2, error_line(f"{message} {HELP_HINT}") + "\n")

    def parse_args(self, args=None, namespace=None):
        self.refuse_unknown(args)
        return super().parse_args(args, namespace)

    def long_options(self) -> dict[str, str]:
        """Every --option spelling, mapped to the canonical spelling of its option."""
        spellings = {}
        for action in self._actions:
            long = [option for option in action.option_strings if option.startswith("--")]
            spellings.update({option: long[0] for option in long})
        return spellings

    def refuse_unknown(self, args: list[str] | None) -> None:
        """Name unknown options (not their values) or stray words. Checked before required options, since a
        mistyped required option would otherwise read as a missing one."""
        required = [action for action in self._actions if action.required]
        for action in required:
            action.required = False
        try:
            extra = self.parse_known_args(args)[1]
        finally:
            for action in required:
                action.required = True
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
        kwargs.setdefault("usage", "%(prog)s [--option value ...]  or  %(prog)s OPTIONS.json|OPTIONS.yaml")
        kwargs.setdefault("formatter_class", OneSpellingHelpFormatter)
        # No abbreviated options: with both --a_b and --a-b spellings every prefix would be ambiguous.
        super().__init__(dataclass_types, allow_abbrev=False, **kwargs)
        for action in self._actions:  # --help shows every default, also of options without a description
            if action.help is None and action.option_strings:
                action.help = "(default: %(default)s)"

    def fields(self) -> dict[str, dataclasses.Field]:
        return {f.name: f for dtype in self.dataclass_types for f in dataclasses.fields(dtype) if f.init}

    def parse_command_line(self, argv: list[str]) -> tuple:
        self.refuse_unknown(argv)  # before the dataclasses run their own checks
        try:
            return self.parse_args_into_dataclasses(args=argv)
        except ValueError as error:  # a dataclass's own check of its values (__post_init__)
            self.error(one_line(error))

    def parse_options_file(self, path: Path, defaults: dict) -> tuple:
        """The file's options over `defaults`, checked as the command line checks them: names, required
        options and choices (value types are the file's own: YAML and JSON carry numbers and lists)."""
        try:
            options = read_options_file(path)
        except UsageError as error:
            self.error(str(error))
        fields = self.fields()
        unknown = [key for key in options if key not in fields]
        if unknown:
            named = [
                repr(key) + (f" (did you mean {match!r}?)" if (match := closest(key, list(fields))) else "")
                for key in unknown
            ]
            self.error(f"{path}: unknown key{'s' if len(named) > 1 else ''} {', '.join(named)}")
        missing = [
            name
            for name, f in fields.items()
            if name not in options
            and name not in defaults
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            self.error(f"{path}: missing required key{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        for action in self._actions:
            if action.choices is not None and action.dest in options:
                value = options[action.dest]
                for item in value if isinstance(value, list) else [value]:
                    if item not in action.choices:
                        self.error(
                            f"{path}: {action.dest}: invalid choice {item!r} "
                            f"(choose from {', '.join(map(str, action.choices))})"
                        )
        try:
            return self.parse_dict({**defaults, **options})
        except ValueError as error:
            self.error(f"{path}: {one_line(error)}")


def parse_dataclasses(
    dataclass_types, argv: list[str] | None = None, prog: str | None = None, defaults: dict | None = None
) -> tuple:
    """The command line, or one .json / .yaml options file given as the only argument, as instances of the
    dataclasses. `defaults` replace the dataclasses' own defaults; what the user gives replaces both.
    Any mistake exits with one line and status 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = DataclassParser(dataclass_types, prog=prog)
    parser.set_defaults(**(defaults or {}))
    if is_options_file(argv):
        return parser.parse_options_file(Path(argv[0]), defaults or {})
    return parser.parse_command_line(argv)
