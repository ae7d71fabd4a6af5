"""run_downstream.py --push_to_hub publishes the scored run once: model, processor, results, per-example outcomes
and the project's card, never the feature cache or the token. The real huggingface_hub client talks to
tests/support/hub_server.py (the Hub cannot be reached from here), in this process."""

from __future__ import annotations

from downstream_probes import TOKEN, probe
from hf_seqlen.publishing.release import ids_relative_to_their_folder
from tiny_upstreams import save_upstream


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
