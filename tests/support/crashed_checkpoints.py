"""What a crash in the middle of saving leaves in a run's folder."""

from __future__ import annotations

from pathlib import Path

from hf_seqlen.pretrain.checkpoints import PROGRESS_FILE


def fake_incomplete_checkpoints(output_dir: Path) -> None:
    """What a crash leaves: a half-written temporary folder, and a folder without progress.json."""
    (output_dir / ".checkpoint-90.partial").mkdir()
    (output_dir / ".checkpoint-90.partial" / PROGRESS_FILE).write_text("{}")
    (output_dir / "checkpoint-95").mkdir()
    (output_dir / "checkpoint-95" / "model.safetensors").write_bytes(b"half")
