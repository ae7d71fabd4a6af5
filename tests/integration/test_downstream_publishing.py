"""run_downstream.py --push_to_hub publishes the scored run once: model, processor, results, per-example outcomes
and the project's card, never the feature cache or the token. The real huggingface_hub client talks to
tests/support/hub_server.py (the Hub cannot be reached from here), in this process."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from downstream_probes import TOKEN, probe
from hf_seqlen.cli import push_main
from hf_seqlen.downstream.publish import PUSH_MESSAGE
from hub_cards import check_model_card, machine_paths
from tiny_upstreams import save_upstream

# What a kws probe publishes: the Trainer's save (model, its arguments, the feature extractor) and the run's own files.
PUBLISHED = {
    "config.json",
    "model.safetensors",
    "training_args.bin",
    "preprocessor_config.json",
    "results.json",
    "eval_examples.jsonl",
    "test_examples.jsonl",
    "README.md",
}


def front_matter(card: bytes) -> dict:
    return yaml.safe_load(card.decode().split("---")[1])


def test_a_probe_is_published_once_after_scoring_with_its_results_and_card(hub, tmp_path):
    upstream, output_dir = save_upstream(tmp_path / "w2v2-tiny-2s"), tmp_path / "kws"
    assert probe(upstream, output_dir, "--push_to_hub", "--hub_model_id", "kws-probe", "--hub_token", TOKEN) == 0

    assert (output_dir / "feature_cache").is_dir()  # probed on cached features, which stay local
    assert list(hub.repos) == ["test-user/kws-probe"]
    repo = hub.repos["test-user/kws-probe"]
    assert repo.commit_messages == [PUSH_MESSAGE]  # once, by the run: the Trainer pushed nothing
    assert set(repo.files) == PUBLISHED
    for name in ("config.json", "preprocessor_config.json", "README.md"):
        assert repo.files[name] == (output_dir / name).read_bytes(), name
    # Published results and outcomes name no path of this machine; each outcome keeps its id, relative.
    assert not machine_paths(repo.files["results.json"].decode()) and machine_paths(
        (output_dir / "results.json").read_text()
    )
    for split in ("eval", "test"):
        local, published = (
            [json.loads(line) for line in text.splitlines()]
            for text in (
                (output_dir / f"{split}_examples.jsonl").read_text(),
                repo.files[f"{split}_examples.jsonl"].decode(),
            )
        )
        assert [row["id"] for row in published] == [Path(row["id"]).name for row in local]  # one folder: names
        assert [{**row, "id": None} for row in published] == [{**row, "id": None} for row in local]
    assert not [path for path in output_dir.iterdir() if path.name.startswith(".push")]

    card = front_matter(repo.files["README.md"])
    assert card["base_model"] == "w2v2-tiny-2s"  # the local upstream by its folder's name
    results = json.loads(repo.files["results.json"])
    interval = results["intervals"]["test"]["accuracy"]
    entries = {
        (r["dataset"]["split"], r["metrics"][0]["type"]): r["metrics"][0] for r in card["model-index"][0]["results"]
    }
    test_accuracy = entries[("test", "accuracy")]
    assert test_accuracy["value"] == results["metrics"]["test"]["accuracy"]
    assert test_accuracy["name"] == f"test accuracy (95% CI {interval['low']:.4f} to {interval['high']:.4f})"
    (tmp_path / "pushed.md").write_bytes(repo.files["README.md"])
    check_model_card(tmp_path / "pushed.md")

    written = [path for path in output_dir.rglob("*") if path.is_file()]
    assert not [path for path in written if TOKEN.encode() in path.read_bytes()]  # training_args.bin included
    assert not [name for name, content in repo.files.items() if TOKEN.encode() in content]

    # hf-seqlen push sends the same files from the finished folder, to another repo.
    assert push_main([str(output_dir), "--hub_model_id", "kws-again", "--hub_token", TOKEN]) == 0
    assert set(hub.repos["test-user/kws-again"].files) == PUBLISHED
