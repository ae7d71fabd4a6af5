"""Shared fixtures: real audio files on disk, a real tiny checkpoint pre-trained once per session, and the
stand-in Hub.
Every test that uses the checkpoint is marked slow here, since the first one launches the run.
Plain helpers live in helpers.py."""

from __future__ import annotations

from pathlib import Path

import huggingface_hub
import pytest

from helpers import run_accelerate, write_tone
from hub_server import FakeHub


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    """A flat folder of 12 FLAC files of 1-12 s, no metadata."""
    for i in range(12):
        write_tone(tmp_path / "audio" / f"utt{i:02d}.flac", seconds=1.0 + i, seed=i)
    return tmp_path / "audio"


@pytest.fixture(scope="session")
def pretrained_checkpoint(tmp_path_factory) -> Path:
    """wav2vec2-tiny pre-trained for 60 updates on 2 s crops of the demo corpus (real subprocess)."""
    output_dir = tmp_path_factory.mktemp("pretrained") / "w2v2-tiny-2s"
    result = run_accelerate(
        [
            "--max_duration",
            "2",
            "--output_dir",
            str(output_dir),
            "--max_train_steps",
            "60",
            "--logging_steps",
            "10",
            "--save_steps",
            "20",
        ]
    )
    assert result.returncode == 0, result.stderr[-4000:]
    (output_dir.parent / "train.log").write_text(result.stderr)
    return output_dir


@pytest.fixture
def hub(monkeypatch):
    """The stand-in Hub, with this process's huggingface_hub pointed at it (subprocesses get it by hub_env)."""
    with FakeHub() as running:
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", running.url)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        yield running


@pytest.hookimpl(tryfirst=True)  # before `-m "not slow"` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "pretrained_checkpoint" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
