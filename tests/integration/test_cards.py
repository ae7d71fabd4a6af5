"""Every model card the project writes: metadata the Hub reads (license, pipeline tag, datasets, base model)
passing huggingface_hub's offline validation, and cost estimates under headings that say they are estimates."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from hf_seqlen.cli import downstream_main
from hf_seqlen.corpus.demo_maker import cached_corpus_folder
from hf_seqlen.downstream.card import downstream_card, upstream_info
from hf_seqlen.publishing.release import (
    pretraining_card,
    record_publication,
    refresh_card,
)
from hub_cards import check_model_card, machine_paths, section

ESTIMATES = ("flops_total_estimated_from_counted_steps", "energy_kwh_estimated", "co2_kg_estimated")


def assert_estimates_apart(text: str, title: str) -> None:
    measured, estimates = section(text, f"{title}: measured"), section(text, f"{title}: estimates")
    assert "| wall_clock_seconds |" in measured and "| flops_counted |" in measured
    assert not re.search(r"estimat", measured)
    assert all(f"| {name} |" in estimates for name in ESTIMATES)
    assert "(measured)" not in text.split("## Results (measured)")[-1]  # no cost heading calls estimates measured


def test_pretraining_card_of_a_real_run(pretrained_checkpoint: Path):
    path = pretrained_checkpoint / "README.md"
    metadata = check_model_card(path)
    assert metadata["license"] == "apache-2.0" and metadata["pipeline_tag"] == "feature-extraction"
    assert "datasets" not in metadata  # the demo corpus is no Hub dataset: the text names it
    text = path.read_text()
    assert "of the embedded demo corpus" in text
    assert_estimates_apart(text, "Cost")


def test_pretraining_card_names_the_hub_dataset_and_the_chosen_license(pretrained_checkpoint: Path, tmp_path: Path):
    run_config = json.loads((pretrained_checkpoint / "pretraining_args.json").read_text())
    costs = json.loads((pretrained_checkpoint / "costs.json").read_text())
    run_config.update(dataset_name="openslr/librispeech_asr", data_dir=None, license="cc-by-4.0")
    pretraining_card(run_config, costs, "me/w2v2-2s").save(tmp_path / "README.md")
    metadata = check_model_card(tmp_path / "README.md")
    assert metadata["datasets"] == ["openslr/librispeech_asr"] and metadata["license"] == "cc-by-4.0"
    assert "Hub dataset 'openslr/librispeech_asr'" in (tmp_path / "README.md").read_text()


def test_downstream_card_of_a_real_run_names_the_published_upstream_and_its_license(
    pretrained_checkpoint: Path, tmp_path: Path
):
    upstream = Path(shutil.copytree(pretrained_checkpoint, tmp_path / "upstream"))
    run_config = json.loads((upstream / "pretraining_args.json").read_text())
    (upstream / "pretraining_args.json").write_text(json.dumps({**run_config, "license": "cc-by-4.0"}))
    refresh_card(upstream, "test-user/tiny-2s")
    # what a successful push leaves (tests/integration/test_hub.py pushes)
    record_publication(upstream, "test-user/tiny-2s")

    output_dir = tmp_path / "kws"
    assert (
        downstream_main(
            [
                "--disable_tqdm",
                "true",
                "--task",
                "kws",
                "--model_name_or_path",
                str(upstream),
                "--output_dir",
                str(output_dir),
                "--max_steps",
                "2",
                "--max_eval_samples",
                "4",
            ]
        )
        == 0
    )
    metadata = check_model_card(output_dir / "README.md")
    assert metadata["base_model"] == "test-user/tiny-2s" and metadata["license"] == "cc-by-4.0"
    assert metadata["pipeline_tag"] == "audio-classification" and "datasets" not in metadata
    text = (output_dir / "README.md").read_text()
    assert "on the hf_seqlen demo corpus" in text
    assert not machine_paths(text) and "samples_per_second" not in section(text, "Results (measured)")
    assert_estimates_apart(text, "Upstream pre-training cost")


def local_folders(tmp_path: Path, monkeypatch) -> dict[str, Path]:
    """Data, cache and runs under a user's home, and the large demo corpus in that user's cache."""
    home = tmp_path / "home" / "alice"
    monkeypatch.setenv("HF_SEQLEN_CACHE", str(home / ".cache" / "hf_seqlen"))
    own_data = home / "corpora" / "my_speech"
    own_data.mkdir(parents=True)
    return {
        "demo": cached_corpus_folder("large"),
        "own": own_data,
        "cache": home / ".cache" / "huggingface",
        "runs": home / "runs",
    }


def assert_names_no_machine_path(text: str) -> None:
    assert not machine_paths(text) and "alice" not in text


def test_pretraining_card_names_local_data_and_its_folder_by_name_only(
    pretrained_checkpoint: Path, tmp_path: Path, monkeypatch
):
    folders = local_folders(tmp_path, monkeypatch)
    run_config = json.loads((pretrained_checkpoint / "pretraining_args.json").read_text())
    costs = json.loads((pretrained_checkpoint / "costs.json").read_text())
    paths = {"cache_dir": str(folders["cache"]), "output_dir": str(folders["runs"] / "w2v2-2s")}
    for data, named in (
        ({"data_dir": str(folders["demo"])}, "of audio folder 'demo_corpus_large_v1'"),
        ({"dataset_name": str(folders["own"])}, "of local dataset 'my_speech'"),
    ):
        config = {**run_config, "data_dir": None, "dataset_name": None, **paths, **data}
        for repo_id, loaded in ((None, ".../w2v2-2s"), ("me/w2v2-2s", "me/w2v2-2s")):
            pretraining_card(config, costs, repo_id).save(tmp_path / "README.md")
            assert "datasets" not in check_model_card(tmp_path / "README.md")
            text = (tmp_path / "README.md").read_text()
            assert named in text and f'Wav2Vec2Model.from_pretrained("{loaded}")' in text
            assert_names_no_machine_path(text)


def test_a_real_runs_published_files_name_no_path_of_the_machine(pretrained_checkpoint: Path):
    """The run was given an absolute --output_dir; what it publishes names the folder alone."""
    card = (pretrained_checkpoint / "README.md").read_text()
    assert f'from_pretrained(".../{pretrained_checkpoint.name}")' in card
    for name in ("README.md", "pretraining_args.json", "costs.json", "eval_results.json"):
        assert not machine_paths((pretrained_checkpoint / name).read_text()), name


def test_downstream_card_names_local_data_and_upstream_by_name_and_leaves_timings_out(
    pretrained_checkpoint: Path, tmp_path: Path, monkeypatch
):
    folders = local_folders(tmp_path, monkeypatch)
    upstream = Path(shutil.copytree(pretrained_checkpoint, folders["runs"] / "w2v2-2s"))
    timings = {"runtime": 2.1, "samples_per_second": 7.6, "steps_per_second": 1.9, "model_preparation_time": 0.01}
    results = {
        "task": "kws",
        "protocol": "probe",
        "upstream": upstream_info(str(upstream)),
        "metrics": {
            "eval": {"accuracy": 0.5, "loss": 1.3, **timings},
            "test": {"accuracy": 0.25, "loss": 1.4, **timings},
        },
        "train": {"steps": 10},
    }
    # As run_downstream.py names the data: a local --data_dir, or a local folder given as --dataset_name.
    for dataset, dataset_type, hub_dataset, named in (
        (str(folders["demo"]), "audiofolder", None, "demo_corpus_large_v1"),
        (str(folders["own"]), str(folders["own"]), str(folders["own"]), "my_speech"),
    ):
        downstream_card(results, dataset, dataset_type, "kws-2s", hub_dataset=hub_dataset).save(tmp_path / "README.md")
        metadata = check_model_card(tmp_path / "README.md")
        assert "datasets" not in metadata and metadata["base_model"] == "w2v2-2s"
        assert {r["dataset"]["name"] for r in metadata["model-index"][0]["results"]} == {named}
        text = (tmp_path / "README.md").read_text()
        assert f"(probe) on {named}, from the wav2vec 2.0 upstream\n`w2v2-2s`" in text
        assert_names_no_machine_path(text)
        table = section(text, "Results (measured)")
        assert "| test | accuracy | 0.2500 |" in table and "| test | loss | 1.4000 |" in table
        assert not [name for name in timings if name in table]


def test_a_push_rewrites_the_configuration_it_publishes_without_machine_paths(
    pretrained_checkpoint: Path, tmp_path: Path, monkeypatch
):
    """`hf-seqlen push` refreshes the card and configuration of a folder whose configuration names local paths."""
    folders = local_folders(tmp_path, monkeypatch)
    output_dir = Path(shutil.copytree(pretrained_checkpoint, folders["runs"] / "w2v2-2s"))
    run_config = json.loads((output_dir / "pretraining_args.json").read_text())
    (output_dir / "pretraining_args.json").write_text(
        json.dumps({**run_config, "data_dir": str(folders["demo"]), "output_dir": str(output_dir)})
    )
    refresh_card(output_dir, "test-user/w2v2-2s")
    published_config = json.loads((output_dir / "pretraining_args.json").read_text())
    assert published_config["data_dir"] == ".../demo_corpus_large_v1"
    assert published_config["output_dir"] == ".../w2v2-2s"
    card = (output_dir / "README.md").read_text()
    assert 'Wav2Vec2Model.from_pretrained("test-user/w2v2-2s")' in card
    for text in (card, (output_dir / "pretraining_args.json").read_text()):
        assert_names_no_machine_path(text)
