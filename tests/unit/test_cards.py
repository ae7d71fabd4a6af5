"""Every model card the project writes: metadata the Hub reads (license, pipeline tag, datasets, base model)
passing huggingface_hub's offline validation, and cost estimates under headings that say they are estimates."""

from __future__ import annotations

from pathlib import Path

import pytest

from hf_seqlen.downstream.card import downstream_card, upstream_info
from hf_seqlen.publishing.release import (
    SECTION_FILE,
    pretraining_card,
    restore_section,
)
from hub_cards import check_model_card, section
from tiny_upstreams import save_upstream


def test_downstream_card_of_hub_upstream_and_hub_data(tmp_path: Path):
    results = {
        "task": "asr",
        "protocol": "fine-tune",
        "upstream": upstream_info("facebook/wav2vec2-base"),
        "metrics": {"test": {"wer": 0.31, "cer": 0.12}},
        "train": {"steps": 10},
    }
    card = downstream_card(
        results, "openslr/librispeech_asr", "openslr/librispeech_asr", "asr-2s", hub_dataset="openslr/librispeech_asr"
    )
    card.save(tmp_path / "README.md")
    metadata = check_model_card(tmp_path / "README.md")
    assert metadata["base_model"] == "facebook/wav2vec2-base" and metadata["datasets"] == ["openslr/librispeech_asr"]
    assert metadata["license"] == "apache-2.0" and metadata["pipeline_tag"] == "automatic-speech-recognition"
    assert "No costs.json beside the upstream checkpoint." in section(card.text, "Upstream pre-training cost")


def test_downstream_card_of_an_unpublished_local_upstream_names_its_folder_as_base_model(tmp_path: Path):
    upstream = save_upstream(tmp_path / "home" / "alice" / "w2v2-tiny-2s")
    results = {
        "task": "kws",
        "protocol": "probe",
        "upstream": upstream_info(str(upstream)),
        "metrics": {"test": {"accuracy": 0.5}},
        "train": {"steps": 10},
    }
    downstream_card(results, "my_keywords", "audiofolder", "kws-2s", license="mit").save(tmp_path / "README.md")
    metadata = check_model_card(tmp_path / "README.md")
    assert metadata["base_model"] == "w2v2-tiny-2s" and "datasets" not in metadata and metadata["license"] == "mit"
    assert "alice" not in (tmp_path / "README.md").read_text()


@pytest.mark.parametrize(
    "model_name_or_path, base_model",
    [
        (None, None),  # from scratch: no base model
        ("facebook/wav2vec2-base", "facebook/wav2vec2-base"),
        ("/home/alice/runs/w2v2-2s", "w2v2-2s"),
        (".../w2v2-2s", "w2v2-2s"),  # as a pushed run's configuration states a local folder
    ],
)
def test_a_continued_pre_training_card_names_where_it_started(model_name_or_path, base_model, tmp_path: Path):
    run_config = {"max_duration": 2.0, "crop_mode": "random", "output_dir": "run"}
    pretraining_card({**run_config, "model_name_or_path": model_name_or_path}, {}, None).save(tmp_path / "README.md")
    assert check_model_card(tmp_path / "README.md").get("base_model") == base_model
    assert "alice" not in (tmp_path / "README.md").read_text()


def test_a_rewritten_card_gets_the_section_kept_beside_it_back_once(tmp_path: Path):
    card = tmp_path / "README.md"
    (tmp_path / SECTION_FILE).write_text("## Kept\n\nfigures\n")
    card.write_text("# card\n\nbody\n")
    restore_section(card)
    restore_section(card)
    assert card.read_text() == "# card\n\nbody\n\n## Kept\n\nfigures\n"
