"""A sweep's job: one entry point of `hf_seqlen.cli` (pretrain: run_pretrain.py, downstream: run_downstream.py)
and its options under that entry point's own names, each once. A job stays this value while the sweep plans and
checks it; `launch` alone makes it a command line (docs/study.md).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass

from ..option_parsing import UsageError, is_number, word

# (option name without --, its values as command-line words): ("max_duration", ("2",)); a bare flag has no values.
Option = tuple[str, tuple[str, ...]]


def option(name: str, *values: object) -> Option:
    return name, tuple(word(value) for value in values)


def options_from_words(words: Iterable[str], where: str) -> list[Option]:
    """Command-line words (--name value ..., --name=value, a bare --flag) as options, in the order given."""
    options: list[Option] = []
    for text in words:
        if text.startswith("--") and not is_number(text):
            name, equals, value = text[2:].partition("=")
            options.append((name.replace("-", "_"), (value,) if equals else ()))
        elif options:
            options[-1] = (options[-1][0], (*options[-1][1], text))
        else:
            raise UsageError(f"{where}: {text!r} is no option; give options as --NAME VALUE ...")
    return options


def merged(*groups: Iterable[Option]) -> tuple[Option, ...]:
    """The options of every group, each name once: a later group's value replaces an earlier one, and is placed
    where the later group puts it (the way the last of a repeated option wins on a command line)."""
    options: dict[str, tuple[str, ...]] = {}
    for group in groups:
        for name, values in group:
            options.pop(name, None)
            options[name] = values
    return tuple(options.items())


@dataclass(frozen=True)
class Job:
    entry: str  # "pretrain" or "downstream"
    options: tuple[Option, ...]

    def value(self, name: str) -> tuple[str, ...] | None:
        return dict(self.options).get(name)

    def arguments(self) -> list[str]:
        """The options as the entry point's command-line arguments."""
        return [text for name, values in self.options for text in (f"--{name}", *values)]


def launch(job: Job, accelerate_config: str | None) -> list[str]:
    """The command that runs the job: `accelerate launch -m hf_seqlen.cli ENTRY OPTIONS`."""
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    if accelerate_config:
        command += ["--config_file", accelerate_config]
    return command + ["-m", "hf_seqlen.cli", job.entry, *job.arguments()]
