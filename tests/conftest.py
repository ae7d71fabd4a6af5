"""Shared fixtures: real audio files on disk, a real tiny checkpoint pre-trained once per test session, and the
stand-in Hub; and the tiers: every test under tests/integration is marked slow here, and none under tests/unit may
be slow (the checkpoint's first user launches its run, so its users are integration tests).
Plain helpers live in tests/support/."""

from __future__ import annotations

import os
from pathlib import Path

import huggingface_hub
import pytest
from filelock import FileLock

from helpers import SESSION_RUN, run_accelerate, write_tone
from hub_server import FakeHub
from messy_audio import make_messy_folder

INTEGRATION = Path(__file__).resolve().parent / "integration"
# The slow tier's longest files, longest first (each over 100 s of test time, `--durations=0` on 2 cores). xdist hands
# whole files to its workers (`--dist loadfile`) in collection order once its reordering by test count is off: a long
# file handed out last runs alone while the other workers idle, as the one-test upstream ranking did.
LONGEST_FILES = (
    "test_benchmarks.py",
    "test_gpu_options.py",
    "test_reliability_distributed.py",
    "test_sweep.py",
    "test_pretrain.py",
    "test_upstream_ranking.py",
    "test_downstream.py",
)
# Each collected test and whether it is slow, before `-m "not slow"` deselects: tests/unit/test_tiers.py reads it.
SLOW_TESTS = pytest.StashKey[dict[str, bool]]()


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker computes on its share of the cores, and so does every process it launches
    (OMP_NUM_THREADS is inherited and kept as the user's choice). Two workers each taking every core of a 2-core
    machine ran the README's job in 115 s where one thread each took 50 s: OpenMP threads spinning against each
    other. A thread count the user set is kept. Files are handed out in collection order (LONGEST_FILES first)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        import torch

        from hf_seqlen.cpu_threads import available_cores

        share = max(1, available_cores({})[0] // workers)
        os.environ["OMP_NUM_THREADS"] = str(share)
        torch.set_num_threads(share)
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist's, on by default: files with most tests first
        config.option.loadscopereorder = False


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    """A flat folder of 12 FLAC files of 1-12 s, no metadata."""
    for i in range(12):
        write_tone(tmp_path / "audio" / f"utt{i:02d}.flac", seconds=1.0 + i, seed=i)
    return tmp_path / "audio"


@pytest.fixture
def messy_folder(tmp_path: Path) -> tuple[Path, set[str]]:
    return make_messy_folder(tmp_path / "messy")


@pytest.fixture(scope="session")
def pretrained_checkpoint(tmp_path_factory) -> Path:
    """wav2vec2-tiny pre-trained for 60 updates on 2 s crops of the demo corpus (real subprocess), once per test
    session: under pytest-xdist the first worker to ask trains it in the session's shared folder while the others
    wait, then all read it (no test writes into it; those that change a checkpoint copy it first)."""
    shared = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        shared = shared.parent  # the folder above the workers' own: one per session
    output_dir = shared / "pretrained" / "w2v2-tiny-2s"
    log = output_dir.parent / "train.log"
    with FileLock(shared / "pretrained.lock"):
        if not log.is_file():
            result = run_accelerate([*SESSION_RUN, "--output_dir", str(output_dir)])
            assert result.returncode == 0, result.stderr[-4000:]
            log.write_text(result.stderr)  # last: its presence says the checkpoint is whole
    return output_dir


@pytest.fixture
def hub(monkeypatch):
    """The stand-in Hub, with this process's huggingface_hub pointed at it (subprocesses get it by hub_env)."""
    with FakeHub() as running:
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", running.url)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        yield running


@pytest.hookimpl(tryfirst=True)  # before `-m "not slow"` deselects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION in item.path.parents or "pretrained_checkpoint" in item.fixturenames:
            item.add_marker(pytest.mark.slow)
    config.stash[SLOW_TESTS] = {item.nodeid: item.get_closest_marker("slow") is not None for item in items}
    items.sort(key=handed_out_at)


def handed_out_at(item: pytest.Item) -> int:
    """The item's file's place in the queue xdist hands out: LONGEST_FILES in their order, then the rest."""
    if item.path.parent == INTEGRATION and item.path.name in LONGEST_FILES:
        return LONGEST_FILES.index(item.path.name)
    return len(LONGEST_FILES)
