"""run_downstream.py --push_to_hub publishes the scored run once: model, processor, results, per-example outcomes
and the project's card, never the feature cache or the token. The real huggingface_hub client talks to
tests/support/hub_server.py (the Hub cannot be reached from here), in this process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hf_seqlen.cli import downstream_main, push_main
from hf_seqlen.downstream.publish import PUSH_MESSAGE
from hf_seqlen.publishing.release import ids_relative_to_their_folder
from hub_cards import check_model_card, machine_paths
from tiny_upstreams import save_upstream

TOKEN = "hf_downstream_test_token_never_written"
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


def probe(upstream: Path, output_dir: Path, *options: str) -> int:
    return downstream_main(
        [
            "--disable_tqdm",
            "true",
            "--task",
            "kws",
            "--freeze_upstream",
            "--model_name_or_path",
            str(upstream),
            "--output_dir",
            str(output_dir),
            "--max_steps",
            "2",
            "--max_eval_samples",
            "4",
            *options,
        ]
    )


def front_matter(card: bytes) -> dict:
    return yaml.safe_load(card.decode().split("---")[1])


@pytest.mark.slow
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


def test_a_bad_repo_fails_before_the_probe_trains(hub, tmp_path, capsys):
    upstream, output_dir = save_upstream(tmp_path / "upstream"), tmp_path / "kws"
    assert probe(upstream, output_dir, "--push_to_hub", "--hub_model_id", "bad name!", "--hub_token", TOKEN) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("hf_seqlen error: could not create or reach the Hub repo 'bad name!'")
    assert not (output_dir / "model.safetensors").exists()  # nothing trained


def test_pushing_a_checkpoint_needs_one_to_be_saved(tmp_path, capsys):
    upstream = save_upstream(tmp_path / "upstream")
    assert probe(upstream, tmp_path / "kws", "--push_to_hub", "--hub_strategy", "checkpoint") == 2
    assert "--hub_strategy checkpoint publishes the newest checkpoint" in capsys.readouterr().err


def test_published_outcome_ids_stay_unique_when_files_share_a_name():
    """Class folders (yes/0001.wav, no/0001.wav): a file's name alone would pair two clips as one."""
    examples = [{"id": "/home/alice/commands/test/yes/0001.wav"}, {"id": "/home/alice/commands/test/no/0001.wav"}]
    assert [row["id"] for row in ids_relative_to_their_folder(examples)] == ["yes/0001.wav", "no/0001.wav"]
    as_bytes = [{"id": "0"}, {"id": "1"}]  # audio given as bytes has its row number as id
    assert ids_relative_to_their_folder(as_bytes) == as_bytes
