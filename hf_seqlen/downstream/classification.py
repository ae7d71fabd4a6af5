"""Utterance classification (kws, sid, er, any label): Wav2Vec2ForSequenceClassification, scored by accuracy and
macro-F1 (and UAR for er)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from datasets import Dataset
from transformers import EvalPrediction, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification
from transformers.trainer_utils import PredictionOutput

from ..corpus.sources import DataSourceError
from ..statistics import metrics_of
from .args import ResolvedOptions
from .data import label_names
from .layer_weights import load_with_uniform_layer_weights


def label_set(train: Dataset, column: str) -> list[str]:
    labels = sorted(set(label_names(train, column)))
    if len(labels) < 2:
        raise DataSourceError(
            f"the training split has {len(labels)} distinct value(s) in '{column}': a classifier needs at least 2."
        )
    return labels


def encoder(labels: list[str], column: str) -> Callable[[Dataset], list[int]]:
    """Label names to ids; a label unseen in training is an error naming it (it could never be predicted)."""
    label2id = {label: i for i, label in enumerate(labels)}

    def encode(dataset: Dataset) -> list[int]:
        names = label_names(dataset, column)
        unseen = sorted(set(names) - set(label2id))
        if unseen:
            raise DataSourceError(
                f"labels {', '.join(unseen[:10])} in column '{column}' never occur in the training split; "
                "evaluate on splits whose classes all appear in training."
            )
        return [label2id[name] for name in names]

    return encode


def load_model(
    upstream: str, labels: list[str], layer_sum: bool, cache_dir: str | None, **config_overrides
) -> Wav2Vec2ForSequenceClassification:
    """A fresh head; with `layer_sum` (a probe's) it reads the softmax-weighted sum of all layers
    (`use_weighted_layer_sum`)."""
    return load_with_uniform_layer_weights(
        Wav2Vec2ForSequenceClassification,
        upstream,
        cache_dir=cache_dir,
        num_labels=len(labels),
        label2id={label: i for i, label in enumerate(labels)},
        id2label=dict(enumerate(labels)),
        use_weighted_layer_sum=layer_sum,
        **config_overrides,
    )


def metric_names(task: str) -> tuple[str, ...]:
    return ("accuracy", "f1", *(["uar"] if task == "er" else []))


def outcomes(labels: list[str], logits: np.ndarray, label_ids: np.ndarray, ids: list[str]) -> list[dict]:
    """Each clip scored on its own: its label, the predicted label, and whether they agree."""
    predicted = np.argmax(logits, axis=-1)
    return [
        {
            "id": example_id,
            "reference": labels[int(truth)],
            "prediction": labels[int(guess)],
            "correct": int(truth == guess),
        }
        for example_id, truth, guess in zip(ids, label_ids, predicted, strict=True)
    ]


def metrics_computer(task: str, labels: list[str]) -> Callable[[EvalPrediction], dict]:
    def compute(prediction: EvalPrediction) -> dict:
        ids = [str(i) for i in range(len(prediction.label_ids))]
        return metrics_of(outcomes(labels, prediction.predictions, prediction.label_ids, ids), metric_names(task))

    return compute


class ClassificationTask:
    """kws, sid, er and audio-classification behind the task interface (tasks.py): the training split's labels,
    a sequence classification head, and each clip scored on its own."""

    def __init__(
        self,
        options: ResolvedOptions,
        splits: dict[str, Dataset],
        feature_extractor: Wav2Vec2FeatureExtractor,
        output_dir: Path,
    ):
        self.label_column = options.data.label_column_name
        self.labels = label_set(splits["train"], self.label_column)
        self.model = load_model(
            options.model_name_or_path,
            self.labels,
            options.protocol.reads_layer_sum,
            options.cache_dir,
            **options.protocol.config_overrides(),
        )
        self.processor = feature_extractor
        self.metric_names = metric_names(options.task)
        self.keep_from_logits = None
        self.compute_metrics = metrics_computer(options.task, self.labels)

    def targets(self, split: Dataset) -> list[int]:
        return encoder(self.labels, self.label_column)(split)

    def outcomes(self, part: str, output: PredictionOutput, ids: list[str]) -> list[dict]:
        return outcomes(self.labels, output.predictions, output.label_ids, ids)
