"""Resumable checkpoints, written atomically: a crash mid-write never leaves one that looks complete.

A checkpoint is `checkpoint-<step>/`: Accelerate's state (model, optimizer, scheduler, random
states of every process) plus `progress.json` (step, epoch, position in the epoch, counters).
It is written under a temporary name, `.checkpoint-<step>.partial`, and renamed only once whole;
`progress.json` is its last file, so a folder without it is never resumed from. Folders leave the
same way they came: renamed to a temporary name first, then deleted.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

from .args import UsageError

logger = logging.getLogger(__name__)

PROGRESS_FILE = "progress.json"
CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")
# Left behind by a crash while writing (.partial) or deleting (.stale) a checkpoint.
TEMPORARY_NAME = re.compile(r"^\.checkpoint-\d+\.(partial|stale)$")


def complete_checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first. Temporary folders never match the name."""
    if not output_dir.is_dir():
        return []
    found = [
        (int(m.group(1)), path)
        for path in output_dir.iterdir()
        if (m := CHECKPOINT_NAME.match(path.name)) and (path / PROGRESS_FILE).is_file()
    ]
    return [path for _, path in sorted(found)]


def resolve_checkpoint(requested: str, output_dir: Path) -> Path | None:
    """The folder to resume from; None when 'latest' finds none (the run then starts afresh)."""
    if requested == "latest":
        found = complete_checkpoints(output_dir)
        if not found:
            logger.warning("--resume_from_checkpoint latest: no complete checkpoint in %s yet, starting afresh.",
                           output_dir)
            return None
        return found[-1]
    path = Path(requested)
    if not (path / PROGRESS_FILE).is_file():
        raise FileNotFoundError(
            f"--resume_from_checkpoint {path}: not a complete checkpoint (no {PROGRESS_FILE}). "
            f"Use 'latest' for the newest complete one in {output_dir}."
        )
    return path


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    """Data and names on disk before the rename that publishes them (survives a power cut too)."""
    for path in [*folder.rglob("*"), folder]:
        _fsync(path)


def _remove(folder: Path) -> None:
    """Rename out of sight, then delete: a crash mid-delete leaves no half checkpoint behind a real name."""
    stale = folder.with_name(f".{folder.name}.stale")
    os.replace(folder, stale)
    shutil.rmtree(stale, ignore_errors=True)


def _remove_leftovers(output_dir: Path) -> None:
    for path in output_dir.iterdir():
        if TEMPORARY_NAME.match(path.name):
            shutil.rmtree(path, ignore_errors=True)


def save_checkpoint(accelerator, output_dir: Path, step: int, progress: dict, save_total_limit: int | None) -> Path:
    """Every process must call this (each saves its own random state)."""
    final = output_dir / f"checkpoint-{step}"
    partial = output_dir / f".checkpoint-{step}.partial"
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(output_dir)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (partial / PROGRESS_FILE).write_text(json.dumps(progress, indent=2) + "\n")
        _fsync_tree(partial)
        if final.exists():  # the same step saved again (a resumed run that had already finished)
            _remove(final)
        os.replace(partial, final)
        _fsync(output_dir)  # the rename itself
        if save_total_limit:
            for old in complete_checkpoints(output_dir)[:-save_total_limit]:
                _remove(old)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator, path: Path) -> dict:
    progress = json.loads((path / PROGRESS_FILE).read_text())
    saved_by = progress.get("num_processes", 1)
    if saved_by != accelerator.num_processes:
        # Each process's place in the epoch and random state belong to its shard of the data.
        raise UsageError(
            f"{path} was written by {saved_by} processes; resume it with {saved_by} processes "
            f"(this launch has {accelerator.num_processes})."
        )
    accelerator.load_state(str(path))
    return progress
