"""Resumable checkpoints, written atomically: a crash mid-write never leaves one that looks complete.

A checkpoint is `checkpoint-<step>/`: Accelerate's state (model, optimizer, scheduler, random
states of every process) plus `progress.json` (step, epoch, position in the epoch, counters).
It is written under a temporary name and renamed only once whole.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

PROGRESS_FILE = "progress.json"
CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")


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


def resolve_checkpoint(requested: str, output_dir: Path) -> Path:
    if requested == "latest":
        found = complete_checkpoints(output_dir)
        if not found:
            raise FileNotFoundError(
                f"--resume_from_checkpoint latest: no complete checkpoint in {output_dir}. "
                "Start without --resume_from_checkpoint, or name a checkpoint folder."
            )
        return found[-1]
    path = Path(requested)
    if not (path / PROGRESS_FILE).is_file():
        raise FileNotFoundError(f"--resume_from_checkpoint {path}: not a complete checkpoint (no {PROGRESS_FILE}).")
    return path


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())


def save_checkpoint(accelerator, output_dir: Path, step: int, progress: dict, save_total_limit: int | None) -> Path:
    """Every process must call this (each saves its own random state)."""
    final = output_dir / f"checkpoint-{step}"
    partial = output_dir / f".checkpoint-{step}.partial"
    if accelerator.is_main_process and partial.exists():
        shutil.rmtree(partial)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (partial / PROGRESS_FILE).write_text(json.dumps(progress, indent=2) + "\n")
        _fsync_tree(partial)
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
        if save_total_limit:
            for old in complete_checkpoints(output_dir)[:-save_total_limit]:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator, path: Path) -> dict:
    accelerator.load_state(str(path))
    return json.loads((path / PROGRESS_FILE).read_text())
