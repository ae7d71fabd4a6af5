"""A sweep's job: one entry point of `hf_seqlen.cli` (pretrain: run_pretrain.py, downstream: run_downstream.py)
and its settings: options under that entry point's own names, each once, with their values. A job stays this
value while the sweep plans and checks it; `launch` alone makes it a command line (docs/study.md).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass

from ..option_parsing import UsageError, is_number, word

# One option set for a job: (its name without --, its values as command-line words): ("max_duration", ("2",));
# a bare flag has no values.
Setting = tuple[str, tuple[str, ...]]


def setting(name: str, *values: object) -> Setting:
    return name, tuple(word(value) for value in values)


def settings_from_words(words: Iterable[str], where: str) -> list[Setting]:
    """Command-line words (--name value ..., --name=value, a bare --flag) as settings, in the order given."""
    settings: list[Setting] = []
    for text in words:
        if text.startswith("--") and not is_number(text):
            name, equals, value = text[2:].partition("=")
            settings.append((name.replace("-", "_"), (value,) if equals else ()))
        elif settings:
            settings[-1] = (settings[-1][0], (*settings[-1][1], text))
        else:
            raise UsageError(f"{where}: {text!r} is no option; give options as --NAME VALUE ...")
    return settings


def merged(*groups: Iterable[Setting]) -> tuple[Setting, ...]:
    """The settings of every group, each name once: a later group's value replaces an earlier one, and is placed
    where the later group puts it (the way the last of a repeated option wins on a command line)."""
    values_of: dict[str, tuple[str, ...]] = {}
    for group in groups:
        for name, values in group:
            values_of.pop(name, None)
            values_of[name] = values
    return tuple(values_of.items())


@dataclass(frozen=True)
class Job:
    entry: str  # "pretrain" or "downstream"
    settings: tuple[Setting, ...]

    def value(self, name: str) -> tuple[str, ...] | None:
        return dict(self.settings).get(name)

    def arguments(self) -> list[str]:
        """The settings as the entry point's command-line arguments."""
        return [text for name, values in self.settings for text in (f"--{name}", *values)]


def launch(job: Job, accelerate_config: str | None) -> list[str]:
    """The command that runs the job: `accelerate launch -m hf_seqlen.cli ENTRY OPTIONS`."""
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    if accelerate_config:
        command += ["--config_file", accelerate_config]
    return command + ["-m", "hf_seqlen.cli", job.entry, *job.arguments()]
