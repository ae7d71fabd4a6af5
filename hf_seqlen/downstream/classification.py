"""Utterance classification (kws, sid, er, any label): Wav2Vec2ForSequenceClassification, accuracy and macro-F1 (+ UAR for er)."""

from __future__ import annotations

from typing import Callable

import numpy as np
from datasets import Dataset
from transformers import EvalPrediction, Wav2Vec2ForSequenceClassification

from .. import metrics
from ..data import DataSourceError
from .data import label_names


def label_set(train: Dataset, column: str) -> list[str]:
    labels = sorted(set(label_names(train, column)))
    if len(labels) < 2:
        raise DataSourceError(f"the training split has {len(labels)} distinct value(s) in '{column}': a classifier needs at least 2.")
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
    upstream: str, labels: list[str], probing: bool, cache_dir: str | None, **config_overrides
) -> Wav2Vec2ForSequenceClassification:
    """A fresh head; when probing it reads the softmax-weighted sum of all layers (`use_weighted_layer_sum`)."""
    return Wav2Vec2ForSequenceClassification.from_pretrained(
        upstream,
        cache_dir=cache_dir,
        num_labels=len(labels),
        label2id={label: i for i, label in enumerate(labels)},
        id2label=dict(enumerate(labels)),
        use_weighted_layer_sum=probing,
        **config_overrides,
    )


def metrics_computer(task: str) -> Callable[[EvalPrediction], dict]:
    names = ["accuracy", "f1", *(["uar"] if task == "er" else [])]
    modules = [metrics.load(name) for name in names]

    def compute(prediction: EvalPrediction) -> dict:
        predicted = np.argmax(prediction.predictions, axis=-1)
        results = {}
        for module in modules:
            results.update(module.compute(predictions=predicted, references=prediction.label_ids))
        return results

    return compute
