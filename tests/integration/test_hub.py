"""Publishing to the Hub and loading back, through the real huggingface_hub client.

The Hub cannot be reached from here: tests/support/hub_server.py stands in for it on 127.0.0.1, and
every command below finds it through HF_ENDPOINT, as it would find a Hub mirror.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from huggingface_hub import ModelCard
from transformers import Wav2Vec2Model

from helpers import HF_SEQLEN, REPO, launch_command
from hf_seqlen.publishing.release import PUBLISHED_FILE, published_repo_id
from hub_cards import check_model_card
from hub_server import FakeHub

TOKEN = "hf_not_a_real_token"


LOAD_FROM_HUB = textwrap.dedent("""
    import sys
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model
    model = Wav2Vec2Model.from_pretrained(sys.argv[1])
    extractor = Wav2Vec2FeatureExtractor.from_pretrained(sys.argv[1])
    print(sum(float(p.detach().double().sum()) for p in model.parameters()), extractor.sampling_rate)
""")


def run(command: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def hub_env(hub: FakeHub, tmp_path: Path, **extra: str) -> dict:
    """Online, pointed at the stand-in Hub, with a token and an HF_HOME of its own (no stored login)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_TOKEN", "HF_HUB_CACHE")}
    return {
        **env,
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": TOKEN,
        "HF_HOME": str(tmp_path / "hf_home"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        **extra,
    }


def copy_of(pretrained_checkpoint: Path, tmp_path: Path) -> Path:
    """Pushing rewrites the card's loading snippet, so push a copy, not the shared fixture."""
    return Path(shutil.copytree(pretrained_checkpoint, tmp_path / pretrained_checkpoint.name))


def test_push_then_from_pretrained_round_trip(pretrained_checkpoint: Path, hub: FakeHub, tmp_path: Path):
    output_dir = copy_of(pretrained_checkpoint, tmp_path)
    pushed = run([HF_SEQLEN, "push", str(output_dir), "--hub_model_id", "tiny-2s"], hub_env(hub, tmp_path))
    assert pushed.returncode == 0, pushed.stderr[-3000:]

    files = hub.repos["test-user/tiny-2s"].files
    assert {
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "costs.json",
        "README.md",
        "pretraining_args.json",
        "eval_results.json",
    } <= set(files)
    assert not [name for name in files if "checkpoint" in name]
    assert json.loads(files["costs.json"]) == json.loads((output_dir / "costs.json").read_text())
    card = ModelCard(files["README.md"].decode())
    assert 'Wav2Vec2Model.from_pretrained("test-user/tiny-2s")' in card.text
    (tmp_path / "pushed_card.md").write_bytes(files["README.md"])
    metadata = check_model_card(tmp_path / "pushed_card.md")
    assert metadata["co2_eq_emissions"]["emissions"] > 0 and metadata["license"] == "apache-2.0"
    # The folder remembers where it was published (downstream cards name it as base_model); the repo does not.
    assert published_repo_id(output_dir) == "test-user/tiny-2s" and PUBLISHED_FILE not in files

    fresh_cache = tmp_path / "fresh_cache"
    loaded = run(
        [sys.executable, "-c", LOAD_FROM_HUB, "test-user/tiny-2s"],
        hub_env(hub, tmp_path, HF_HUB_CACHE=str(fresh_cache)),
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    checksum, rate = loaded.stdout.split()
    local = Wav2Vec2Model.from_pretrained(pretrained_checkpoint)  # a local path loads offline
    local_checksum = sum(float(p.detach().double().sum()) for p in local.parameters())
    assert float(checksum) == pytest.approx(local_checksum, rel=1e-12)
    assert int(rate) == 16000
    assert ("GET", "/test-user/tiny-2s/resolve/main/model.safetensors") in hub.requests
    assert any(fresh_cache.rglob("model.safetensors"))


def test_push_to_hub_while_training_follows_the_checkpoint_strategy(hub: FakeHub, tmp_path: Path):
    output_dir = tmp_path / "w2v2-pushed"
    command = launch_command(
        [
            "--max_duration",
            "2",
            "--output_dir",
            str(output_dir),
            "--max_train_steps",
            "6",
            "--save_steps",
            "3",
            "--push_to_hub",
            "--hub_model_id",
            "tiny-pushed",
            "--hub_strategy",
            "checkpoint",
            "--hub_token",
            TOKEN,
        ]
    )
    result = run(command, hub_env(hub, tmp_path, HF_TOKEN=""))
    assert result.returncode == 0, result.stderr[-4000:]

    repo = hub.repos["test-user/tiny-pushed"]
    assert repo.commit_messages == [
        "Training in progress, step 3",
        "Training in progress, step 3: checkpoint-3 as last-checkpoint",
        "End of training, step 6",
        "End of training, step 6: checkpoint-6 as last-checkpoint",
    ]
    assert json.loads(repo.files["last-checkpoint/progress.json"])["step"] == 6
    assert json.loads(repo.files["costs.json"])["optimizer_steps"] == 6
    assert 'from_pretrained("test-user/tiny-pushed")' in repo.files["README.md"].decode()
    published = b"".join(repo.files.values()) + (output_dir / "pretraining_args.json").read_bytes()
    assert TOKEN.encode() not in published  # the token is redacted from every written configuration


def test_a_failed_push_keeps_the_files_and_its_retry_command_works(
    pretrained_checkpoint: Path, hub: FakeHub, tmp_path: Path
):
    output_dir = copy_of(pretrained_checkpoint, tmp_path)
    before = sorted(p.relative_to(output_dir) for p in output_dir.rglob("*"))
    hub.refuse_commits = True
    failed = run([HF_SEQLEN, "push", str(output_dir), "--hub_model_id", "tiny-retry"], hub_env(hub, tmp_path))
    assert failed.returncode == 1
    assert "Every local file is kept; push again with: hf-seqlen push" in failed.stderr
    assert sorted(p.relative_to(output_dir) for p in output_dir.rglob("*")) == before

    hub.refuse_commits = False
    retry = shlex.split(failed.stderr.split("push again with: ")[1].strip())
    pushed = run([HF_SEQLEN, *retry[1:]], hub_env(hub, tmp_path))
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    assert "model.safetensors" in hub.repos["test-user/tiny-retry"].files
