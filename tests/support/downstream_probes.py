"""Downstream probes as the tests train them, the class folders they train on, and their saved folders scored
through a transformers pipeline."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from datasets import Dataset

from helpers import write_tone
from hf_seqlen.cli import downstream_main
from hf_seqlen.corpus.audio import decode_range
from hf_seqlen.downstream.args import DownstreamArguments, resolve
from hf_seqlen.downstream.data import label_names, load_task_splits


def evaluated_split(part: str, **args) -> Dataset:
    """The utterances a run evaluated as `part`, chosen by the run's own code from its arguments."""
    return load_task_splits(resolve(DownstreamArguments(**args)).data)[part]


def classification_through_pipeline(classify, split: Dataset, column: str) -> dict:
    """Accuracy and mean cross-entropy of the saved folder run through the pipeline, one clip at a time."""
    hits, losses = [], []
    for ref, label in zip(split["audio"], label_names(split, column)):
        predictions = classify(pipeline_input(ref), top_k=len(classify.model.config.id2label))
        scores = {p["label"]: p["score"] for p in predictions}
        hits.append(predictions[0]["label"] == label)
        losses.append(-math.log(scores[label]))
    return {"accuracy": float(np.mean(hits)), "loss": float(np.mean(losses))}


def make_class_folder(root: Path) -> Path:
    """train/ and validation/ each with one sub-folder per class: the folder name is the label."""
    for split, count in (("train", 4), ("validation", 2)):
        for k, emotion in enumerate(("angry", "happy", "neutral")):
            for i in range(count):
                write_tone(root / split / emotion / f"{i}.wav", seconds=1.5, seed=10 * k + i)
    return root


TOKEN = "hf_downstream_test_token_never_written"


def class_folder_probe_args(upstream: Path, data_dir: Path, output_dir: Path, steps: int = 4) -> list[str]:
    """run_downstream.py's options for a short probe of `upstream` on a class folder (make_class_folder)."""
    return [
        "--task",
        "audio-classification",
        "--freeze_upstream",
        "--data_dir",
        str(data_dir),
        "--test_split_name",
        "",
        "--model_name_or_path",
        str(upstream),
        "--output_dir",
        str(output_dir),
        "--max_steps",
        str(steps),
    ]


def class_folder_probe(upstream: Path, data_dir: Path, output_dir: Path, *options: str) -> dict:
    """A 4-step probe on a class folder through the run's entry point; its results.json."""
    arguments = ["--disable_tqdm", "true", *class_folder_probe_args(upstream, data_dir, output_dir), *options]
    assert downstream_main(arguments) == 0
    return json.loads((output_dir / "results.json").read_text())


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


HEADS = ["kws", "asr-linear", "asr-conv", "asr-bilstm"]


def pipeline_input(ref: dict) -> dict:
    """Pipelines read file names with ffmpeg (absent here): hand them decoded samples."""
    return {"raw": decode_range(ref, 0.0, None, 16000), "sampling_rate": 16000}
