"""run_downstream.py end to end, from the tiny checkpoint pre-trained on the demo corpus: real Trainer runs
(kws and asr as the subprocess a user runs, the smaller runs in-process), real pipelines on the saved folders."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import Wav2Vec2Model, pipeline

from downstream_probes import classification_through_pipeline, evaluated_split, make_class_folder
from helpers import REPO, write_tone
from hf_seqlen import metrics
from hf_seqlen.cli import downstream_main
from hf_seqlen.corpus.audio import decode_range
from hf_seqlen.downstream import ctc

KEYWORDS = {"down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes"}


def run_downstream(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1"}
    command = [sys.executable, str(REPO / "run_downstream.py"), "--disable_tqdm", "true", *args]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def downstream_in_process(*args: str) -> None:
    """The same entry point without a new interpreter (saves the import time) for the smaller runs."""
    assert downstream_main(["--disable_tqdm", "true", *args]) == 0


def results_of(output_dir: Path) -> dict:
    return json.loads((output_dir / "results.json").read_text())


def pipeline_input(ref: dict) -> dict:
    """Pipelines read file names with ffmpeg (absent here): hand them decoded samples."""
    return {"raw": decode_range(ref, 0.0, None, 16000), "sampling_rate": 16000}


def asr_through_pipeline(transcribe, split: Dataset) -> dict:
    """The pipeline's transcripts scored as the run scores them, and the saved model's CTC loss on the
    saved processor's inputs and labels."""
    references = [ctc.normalize_transcript(text) for text in split["text"]]
    hypotheses, losses = [], []
    for ref, reference in zip(split["audio"], references):
        hypotheses.append(transcribe(pipeline_input(ref))["text"])
        inputs = transcribe.feature_extractor(pipeline_input(ref)["raw"], sampling_rate=16000, return_tensors="pt")
        labels = torch.tensor([transcribe.tokenizer(reference).input_ids])
        with torch.no_grad():
            losses.append(transcribe.model(**inputs, labels=labels).loss.item())
    return {
        "loss": float(np.mean(losses)),
        **metrics.load("wer").compute(predictions=hypotheses, references=references),
    }


def assert_reproduces(through_pipeline: dict, measured: dict) -> None:
    """The saved folder, loaded by a pipeline, gives the metrics the run measured (a wrong label map,
    vocabulary, feature extractor or set of weights would not)."""
    for name, value in through_pipeline.items():
        assert value == pytest.approx(measured[name], rel=1e-3), (name, through_pipeline, measured)


def logged_losses(stdout: str) -> list[float]:
    return [float(value) for value in re.findall(r"'loss': '([0-9.]+)'", stdout)]


def assert_upstream_unchanged(model: torch.nn.Module, upstream: Path) -> None:
    original = Wav2Vec2Model.from_pretrained(upstream).state_dict()
    tuned = {
        name.removeprefix("wav2vec2."): value
        for name, value in model.state_dict().items()
        if name.startswith("wav2vec2.")
    }
    # masked_spec_embed exists only while masking is on; probing switches masking off.
    assert original.keys() - tuned.keys() <= {"masked_spec_embed"} and tuned.keys() <= original.keys()
    changed = [name for name, value in tuned.items() if not torch.equal(value, original[name])]
    assert not changed


def test_kws_beats_chance_on_held_out_voices_and_loads_in_pipeline(pretrained_checkpoint, tmp_path):
    output_dir = tmp_path / "kws"
    # 150 steps: the 60-update upstream is early in pre-training, and 60 steps scored 8 of 40 (0.2).
    run_downstream(
        "--task",
        "kws",
        "--model_name_or_path",
        str(pretrained_checkpoint),
        "--output_dir",
        str(output_dir),
        "--max_steps",
        "150",
    )
    results = results_of(output_dir)
    assert results["task"] == "kws" and results["protocol"] == "fine-tune"
    assert results["upstream"]["model_name_or_path"] == str(pretrained_checkpoint.resolve())
    assert results["upstream"]["max_duration"] == 2.0
    assert results["upstream"]["costs"]["optimizer_steps"] == 60
    fine_tuning = results["train"]["costs"]
    assert fine_tuning["wall_clock_seconds"] > 0 and fine_tuning["device_hours"] > 0
    assert "audio_hours" not in fine_tuning  # not measured through Trainer, so absent rather than zero
    # 10 keywords: chance is 0.1; the test voices are never heard in training.
    assert results["metrics"]["test"]["accuracy"] >= 0.25, results["metrics"]
    assert set(results["metrics"]["eval"]) >= {"accuracy", "f1", "loss"}
    card = (output_dir / "README.md").read_text()
    assert "model-index" in card and "type: accuracy" in card and pretrained_checkpoint.name in card
    assert str(pretrained_checkpoint.parent.resolve()) not in card  # a card names no folder of this machine

    classify = pipeline("audio-classification", model=str(output_dir))
    assert set(classify.model.config.id2label.values()) == KEYWORDS
    test = evaluated_split("test", task="kws", model_name_or_path=str(pretrained_checkpoint))
    assert_reproduces(classification_through_pipeline(classify, test, "keyword"), results["metrics"]["test"])


def test_asr_lowers_ctc_loss_reports_error_rates_and_loads_in_pipeline(pretrained_checkpoint, tmp_path):
    output_dir = tmp_path / "asr"
    result = run_downstream(
        "--task",
        "asr",
        "--model_name_or_path",
        str(pretrained_checkpoint),
        "--output_dir",
        str(output_dir),
        "--max_steps",
        "15",
        "--logging_steps",
        "5",
        "--max_duration",
        "6",
        "--per_device_train_batch_size",
        "4",
        "--max_eval_samples",
        "4",
    )
    losses = logged_losses(result.stdout + result.stderr)
    assert len(losses) == 3 and losses[-1] < losses[0], losses
    for split in ("eval", "test"):
        assert {"wer", "cer"} <= set(results_of(output_dir)["metrics"][split])
    vocab = json.loads((output_dir / "vocab.json").read_text())
    assert {"|", "[PAD]", "[UNK]", "a", "z"} <= set(vocab)

    transcribe = pipeline("automatic-speech-recognition", model=str(output_dir))
    test = evaluated_split("test", task="asr", model_name_or_path=str(pretrained_checkpoint), max_eval_samples=4)
    assert_reproduces(asr_through_pipeline(transcribe, test), results_of(output_dir)["metrics"]["test"])


def test_asr_probing_keeps_the_upstream_and_loads_with_its_code(pretrained_checkpoint, tmp_path):
    output_dir = tmp_path / "asr-probe"
    downstream_in_process(
        "--task",
        "asr",
        "--freeze_upstream",
        "--model_name_or_path",
        str(pretrained_checkpoint),
        "--output_dir",
        str(output_dir),
        "--max_steps",
        "3",
        "--max_duration",
        "6",
        "--per_device_train_batch_size",
        "4",
        "--max_eval_samples",
        "2",
        "--test_split_name",
        "",
    )
    assert results_of(output_dir)["protocol"] == "probe" and "test" not in results_of(output_dir)["metrics"]
    transcribe = pipeline("automatic-speech-recognition", model=str(output_dir), trust_remote_code=True)
    assert type(transcribe.model).__name__ == "Wav2Vec2ForCTCWithLayerSum"
    weights = transcribe.model.layer_weights.detach()
    # They start equal (tests/unit/test_probe_init.py), so unequal weights are the training's.
    assert (weights.max() - weights.min()) > 1e-4, weights
    assert_upstream_unchanged(transcribe.model, pretrained_checkpoint)
    validation = evaluated_split("eval", task="asr", model_name_or_path=str(pretrained_checkpoint), max_eval_samples=2)
    assert_reproduces(asr_through_pipeline(transcribe, validation), results_of(output_dir)["metrics"]["eval"])


@pytest.fixture(scope="module")
def asr_feature_cache(tmp_path_factory) -> Path:
    """One upstream, one cache: the heads below train on the same hidden states, computed once."""
    return tmp_path_factory.mktemp("asr_features")


@pytest.mark.parametrize("ctc_head, learns", [("conv", True), ("linear", False)])
def test_asr_probing_with_the_default_head_learns_to_spell_on_held_out_voices(
    pretrained_checkpoint, tmp_path, asr_feature_cache, ctc_head, learns
):
    """The demo-scale ASR protocol: at a budget of seconds on cached features, the conv head's test CER falls
    clearly below 1 on voices never heard in training, where the output layer alone still emits (almost) nothing."""
    output_dir = tmp_path / f"asr-{ctc_head}"
    downstream_in_process(
        "--task",
        "asr",
        "--freeze_upstream",
        "--ctc_head",
        ctc_head,
        "--model_name_or_path",
        str(pretrained_checkpoint),
        "--output_dir",
        str(output_dir),
        "--max_steps",
        "120",
        "--learning_rate",
        "3e-3",
        "--validation_split_name",
        "",
        "--feature_cache_dir",
        str(asr_feature_cache),
    )
    cer = results_of(output_dir)["metrics"]["test"]["cer"]
    assert (cer < 0.85) == learns, cer


def test_er_probe_on_a_class_folder_reports_uar_and_keeps_the_upstream(pretrained_checkpoint, tmp_path):
    output_dir = tmp_path / "er"
    downstream_in_process(
        "--task",
        "er",
        "--freeze_upstream",
        "--data_dir",
        str(make_class_folder(tmp_path / "emotions")),
        "--label_column",
        "label",
        "--test_split_name",
        "",
        "--model_name_or_path",
        str(pretrained_checkpoint),
        "--output_dir",
        str(output_dir),
        "--max_steps",
        "4",
    )
    assert {"accuracy", "f1", "uar"} <= set(results_of(output_dir)["metrics"]["eval"])
    classify = pipeline("audio-classification", model=str(output_dir))
    assert classify.model.config.use_weighted_layer_sum
    assert_upstream_unchanged(classify.model, pretrained_checkpoint)


def test_audio_classification_reads_a_label_column_of_metadata(pretrained_checkpoint, tmp_path):
    data_dir = tmp_path / "sounds"
    for split, count in (("train", 6), ("test", 3)):
        rows = [{"file_name": f"{i}.flac", "sound": "bird" if i % 2 else "engine"} for i in range(count)]
        for i, row in enumerate(rows):
            write_tone(data_dir / split / row["file_name"], seconds=2.0, seed=i)
        with open(data_dir / split / "metadata.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["file_name", "sound"])
            writer.writeheader()
            writer.writerows(rows)
    output_dir = tmp_path / "sounds-model"
    downstream_in_process(
        "--task",
        "audio-classification",
        "--data_dir",
        str(data_dir),
        "--label_column",
        "sound",
        "--validation_split_name",
        "",
        "--model_name_or_path",
        str(pretrained_checkpoint),
        "--output_dir",
        str(output_dir),
        "--max_steps",
        "3",
    )
    assert {"accuracy", "f1"} <= set(results_of(output_dir)["metrics"]["test"])
    classify = pipeline("audio-classification", model=str(output_dir))
    assert classify.model.config.id2label == {0: "bird", 1: "engine"}
    test = evaluated_split(
        "test",
        task="audio-classification",
        model_name_or_path=str(pretrained_checkpoint),
        data_dir=str(data_dir),
        label_column_name="sound",
        validation_split_name="",
    )
    assert_reproduces(
        classification_through_pipeline(classify, test, "sound"), results_of(output_dir)["metrics"]["test"]
    )
