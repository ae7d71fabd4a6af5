"""Every model card the project writes: metadata the Hub reads (license, pipeline tag, datasets, base model)
passing huggingface_hub's offline validation, and cost estimates under headings that say they are estimates."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from hub_cards import check_model_card, section
from hf_seqlen.cli import downstream_main
from hf_seqlen.downstream.results import downstream_card, upstream_info
from hf_seqlen.hub import pretraining_card, record_publication, refresh_card

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


def test_downstream_card_of_a_real_run_names_the_published_upstream_and_its_license(pretrained_checkpoint: Path,
                                                                                     tmp_path: Path):
    upstream = Path(shutil.copytree(pretrained_checkpoint, tmp_path / "upstream"))
    run_config = json.loads((upstream / "pretraining_args.json").read_text())
    (upstream / "pretraining_args.json").write_text(json.dumps({**run_config, "license": "cc-by-4.0"}))
    refresh_card(upstream, "test-user/tiny-2s")
    record_publication(upstream, "test-user/tiny-2s")  # what a successful push leaves (tests/test_hub.py pushes)

    output_dir = tmp_path / "kws"
    assert downstream_main(["--disable_tqdm", "true", "--task", "kws", "--model_name_or_path", str(upstream),
                            "--output_dir", str(output_dir), "--max_steps", "2", "--max_eval_samples", "4"]) == 0
    metadata = check_model_card(output_dir / "README.md")
    assert metadata["base_model"] == "test-user/tiny-2s" and metadata["license"] == "cc-by-4.0"
    assert metadata["pipeline_tag"] == "audio-classification" and "datasets" not in metadata
    text = (output_dir / "README.md").read_text()
    assert "on the hf_seqlen demo corpus" in text
    assert_estimates_apart(text, "Upstream pre-training cost")


def test_downstream_card_of_hub_upstream_and_hub_data(tmp_path: Path):
    results = {"task": "asr", "protocol": "fine-tune", "upstream": upstream_info("facebook/wav2vec2-base"),
               "metrics": {"test": {"wer": 0.31, "cer": 0.12}}, "train": {"steps": 10}}
    card = downstream_card(results, "openslr/librispeech_asr", "openslr/librispeech_asr", "asr-2s",
                           hub_dataset="openslr/librispeech_asr")
    card.save(tmp_path / "README.md")
    metadata = check_model_card(tmp_path / "README.md")
    assert metadata["base_model"] == "facebook/wav2vec2-base" and metadata["datasets"] == ["openslr/librispeech_asr"]
    assert metadata["license"] == "apache-2.0" and metadata["pipeline_tag"] == "automatic-speech-recognition"
    assert "No costs.json beside the upstream checkpoint." in section(card.text, "Upstream pre-training cost")


def test_downstream_card_of_an_unpublished_local_upstream_names_no_base_model(pretrained_checkpoint: Path,
                                                                             tmp_path: Path):
    results = {"task": "kws", "protocol": "probe", "upstream": upstream_info(str(pretrained_checkpoint)),
               "metrics": {"test": {"accuracy": 0.5}}, "train": {"steps": 10}}
    downstream_card(results, "my_keywords", "audiofolder", "kws-2s", license="mit").save(tmp_path / "README.md")
    metadata = check_model_card(tmp_path / "README.md")
    assert "base_model" not in metadata and "datasets" not in metadata and metadata["license"] == "mit"
