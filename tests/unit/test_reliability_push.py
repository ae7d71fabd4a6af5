"""--push_to_hub during training: a push runs beside the updates, sends what was saved even if the
next save rewrites or deletes it, is tried again when it fails, and never touches the local files.
The real huggingface_hub client talks to tests/support/hub_server.py, in this process."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from hf_seqlen.publishing import push
from hf_seqlen.publishing.push import HubPublisher

TOKEN = "hf_not_a_real_token"


def a_run_folder(output_dir: Path) -> Path:
    """What a run holds at its step-3 save: published files and a checkpoint."""
    (output_dir / "checkpoint-3").mkdir(parents=True)
    (output_dir / "checkpoint-3" / "progress.json").write_text(json.dumps({"step": 3}))
    (output_dir / "checkpoint-3" / "model.safetensors").write_bytes(b"step-3 weights")
    (output_dir / "model.safetensors").write_bytes(b"step-3 weights")
    (output_dir / "costs.json").write_text("{}")
    return output_dir / "checkpoint-3"


def publisher_without_retry_delays(output_dir, strategy: str, repo: str, monkeypatch) -> HubPublisher:
    monkeypatch.setattr(push, "RETRY_DELAYS_S", (0, 0))
    args = SimpleNamespace(hub_strategy=strategy, hub_token=TOKEN, hub_model_id=repo, hub_private_repo=None)
    return HubPublisher(args, output_dir, is_main_process=True)


def test_a_push_mid_training_runs_beside_the_updates_and_is_tried_again(hub, tmp_path, monkeypatch):
    output_dir = tmp_path / "run"
    checkpoint = a_run_folder(output_dir)
    publisher = publisher_without_retry_delays(output_dir, "checkpoint", "tiny-async", monkeypatch)
    # A slow network cannot be made here: each try waits until the test lets it go.
    network_free, tries, real_push = threading.Event(), [], push.push_output_dir

    def slow_push(*args, **kwargs):
        assert network_free.wait(60)
        tries.append(args[0])
        hub.refuse_commits = len(tries) == 1  # the first try fails, as a Hub outage would
        return real_push(*args, **kwargs)

    monkeypatch.setattr(push, "push_output_dir", slow_push)
    publisher.push(checkpoint, final=False)
    assert not tries  # push() came back while the upload waits: the next update need not wait
    # The next save meanwhile: new weights, and the pushed checkpoint pruned.
    (output_dir / "model.safetensors").write_bytes(b"step-6 weights")
    shutil.rmtree(checkpoint)
    network_free.set()
    publisher.in_flight.result(timeout=120)

    assert len(tries) == 2
    repo = hub.repos["test-user/tiny-async"]
    assert repo.commit_messages == [
        "Training in progress, step 3",
        "Training in progress, step 3: checkpoint-3 as last-checkpoint",
    ]
    assert repo.files["model.safetensors"] == b"step-3 weights"
    assert json.loads(repo.files["last-checkpoint/progress.json"]) == {"step": 3}
    assert not [name for name in repo.files if ".push-" in name]
    # The snapshot is gone; published.json records where the run went.
    assert sorted(p.name for p in output_dir.iterdir()) == ["costs.json", "model.safetensors", "published.json"]
    assert (output_dir / "model.safetensors").read_bytes() == b"step-6 weights"


def test_a_push_that_keeps_failing_leaves_every_local_file_and_the_final_one_raises(hub, tmp_path, monkeypatch):
    output_dir = tmp_path / "run"
    checkpoint = a_run_folder(output_dir)
    publisher = publisher_without_retry_delays(output_dir, "every_save", "tiny-down", monkeypatch)
    before = sorted(p.relative_to(output_dir) for p in output_dir.rglob("*"))
    hub.refuse_commits = True
    publisher.push(checkpoint, final=False)
    publisher.in_flight.result(timeout=120)  # logged, not raised: training goes on
    assert sorted(p.relative_to(output_dir) for p in output_dir.rglob("*")) == before
    with pytest.raises(push.PushError, match=f"push again with: hf-seqlen push {output_dir} "):
        publisher.push(checkpoint, final=True)
    assert sum(method == "POST" and "/commit/" in path for method, path in hub.requests) == 2 * 3  # 3 tries each
