"""Resumable checkpoints, written atomically: a crash mid-write never leaves one that looks complete.

A checkpoint is `checkpoint-<step>/`: Accelerate's state (model, optimizer, scheduler, random
states of every process) plus `progress.json` (step, epoch, position in the epoch, counters).
It is written under a temporary name, `.checkpoint-<step>.partial`, and renamed only once whole;
`progress.json` is its last file, so a folder without it is never resumed from. Folders leave the
same way they came: renamed to a temporary name first, then deleted.

`manifest.json`, written just before `progress.json`, records every file's size. `latest` checks a
checkpoint against it, so one damaged after it was completed (a truncated file, a lost file) is
skipped for the one before it. Sizes, not checksums: a check reads no weights, and the damage seen
on clusters (a quota or a full disk mid-copy, a file system that lost its tail) changes sizes.
`--save_total_limit` counts intact checkpoints only, and removes damaged ones.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)

PROGRESS_FILE = "progress.json"
MANIFEST_FILE = "manifest.json"
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


class CheckpointDiskFull(RuntimeError):
    """The disk filled while a checkpoint was written; the previous checkpoints are untouched."""


def human_size(num_bytes: int) -> str:
    return f"{num_bytes / 1e9:.2f} GB" if num_bytes >= 1e8 else f"{num_bytes / 1e6:.1f} MB"


def file_sizes(folder: Path) -> dict[str, int]:
    return {str(path.relative_to(folder)): path.stat().st_size for path in sorted(folder.rglob("*")) if path.is_file()}


def damage(checkpoint: Path) -> str | None:
    """What is wrong with a complete checkpoint, or None. One written before manifests existed passes."""
    try:
        json.loads((checkpoint / PROGRESS_FILE).read_text())
        manifest_path = checkpoint / MANIFEST_FILE
        if not manifest_path.is_file():
            return None
        recorded = json.loads(manifest_path.read_text())["files"]
    except (OSError, ValueError, KeyError) as error:
        return f"unreadable {PROGRESS_FILE} or {MANIFEST_FILE} ({error})"
    for name, size in recorded.items():
        path = checkpoint / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} holds {path.stat().st_size} bytes, {size} were written"
    return None


def resolve_checkpoint(requested: str, output_dir: Path) -> Path | None:
    """The folder to resume from; None when 'latest' finds none intact (the run then starts afresh)."""
    if requested == "latest":
        for checkpoint in reversed(complete_checkpoints(output_dir)):
            if (problem := damage(checkpoint)) is None:
                return checkpoint
            logger.warning(
                "--resume_from_checkpoint latest: skipping damaged %s (%s); trying the one before.", checkpoint, problem
            )
        logger.warning("--resume_from_checkpoint latest: no intact checkpoint in %s, starting afresh.", output_dir)
        return None
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


def _disk_full(partial: Path, output_dir: Path) -> CheckpointDiskFull:
    """Clear the half-written folder and say how much room one checkpoint takes."""
    written = sum(file_sizes(partial).values()) if partial.is_dir() else 0
    shutil.rmtree(partial, ignore_errors=True)
    previous = complete_checkpoints(output_dir)
    needed = (
        f"about {human_size(sum(file_sizes(previous[-1]).values()))} (the size of {previous[-1].name})"
        if previous
        else f"more than the {human_size(written)} written before the disk filled"
    )
    kept = f"{previous[-1]} is intact" if previous else "no earlier checkpoint exists"
    return CheckpointDiskFull(
        f"the disk of {output_dir} filled while writing a checkpoint, which needs {needed}; {kept}. "
        "Free space or lower --save_total_limit, then resume with --resume_from_checkpoint latest."
    )


def _prune(output_dir: Path, save_total_limit: int) -> None:
    """Keep the newest `save_total_limit` intact checkpoints. A damaged one is never resumed from, so it is
    not one of them and goes too: left, one that `latest` skipped sorts above the resumed run's new
    checkpoints, and counting it as kept would delete them and the one the run resumed from."""
    intact = []
    for checkpoint in complete_checkpoints(output_dir):
        if (problem := damage(checkpoint)) is None:
            intact.append(checkpoint)
        else:
            logger.warning(
                "--save_total_limit %d: removing damaged %s (%s); it cannot be resumed from.",
                save_total_limit,
                checkpoint,
                problem,
            )
            _remove(checkpoint)
    for old in intact[:-save_total_limit]:
        _remove(old)


def save_checkpoint(accelerator, output_dir: Path, step: int, progress: dict, save_total_limit: int | None) -> Path:
    """Every process must call this (each saves its own random state). A full disk raises CheckpointDiskFull."""
    final = output_dir / f"checkpoint-{step}"
    partial = output_dir / f".checkpoint-{step}.partial"
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(output_dir)
    accelerator.wait_for_everyone()
    try:
        accelerator.save_state(str(partial))
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            sizes = file_sizes(partial)
            (partial / MANIFEST_FILE).write_text(json.dumps({"files": sizes}, indent=2) + "\n")
            (partial / PROGRESS_FILE).write_text(json.dumps(progress, indent=2) + "\n")
            _fsync_tree(partial)
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        raise _disk_full(partial, output_dir) from error
    if accelerator.is_main_process:
        if final.exists():  # the same step saved again (a resumed run that had already finished)
            _remove(final)
        os.replace(partial, final)
        _fsync(output_dir)  # the rename itself
        if save_total_limit:
            _prune(output_dir, save_total_limit)
        logger.info("checkpoint: %s (%s)", final, human_size(sum(sizes.values())))
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator, path: Path) -> dict:
    """Weights, optimizer, scheduler and random states into every process; returns progress.json. Written by
    another number of processes, a process with no random state of its index keeps its own (Accelerate logs
    'Could not load random states'); `run.resume` then seeds every process afresh."""
    progress = json.loads((path / PROGRESS_FILE).read_text())
    accelerator.load_state(str(path))
    return progress
