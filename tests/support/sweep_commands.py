"""The sweep as a user runs it: its dry run through the `hf-seqlen` console script, and its exit status in this
process."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from helpers import HF_SEQLEN
from hf_seqlen.cli import sweep_main


def dry_run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The dry run as a user types it, through the `hf-seqlen` console script."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(
        [HF_SEQLEN, "sweep", *args, "--dry_run"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def planned_commands(stdout: str) -> list[str]:
    return [line.strip()[2:] for line in stdout.splitlines() if line.startswith("  $ ")]


def sweep_exit(argv: list[str]) -> int:
    """`hf-seqlen sweep ARGV` in this process: its exit status, whether returned or raised by the parser."""
    try:
        return sweep_main(argv)
    except SystemExit as exit:
        return exit.code
