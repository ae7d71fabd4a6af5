"""The downstream task families behind one interface, and the table the runner picks a family from.

A task family (ctc.py for asr, classification.py for the rest) is a class built once per run from the run's
resolved options and splits: it loads the model with its head and gives the training targets, the metrics shown while
training, and the per-example outcomes the final scores come from (results.py describes their files). A task
names its family in task_table.TASKS.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from pathlib import Path

from datasets import Dataset
from transformers import EvalPrediction, PreTrainedModel, Wav2Vec2FeatureExtractor
from transformers.trainer_utils import PredictionOutput

from ..option_parsing import UsageError
from .args import ResolvedOptions
from .classification import ClassificationTask
from .ctc import CtcTask
from .task_table import TASKS


class Task(typing.Protocol):
    """One task set up for one run."""

    model: PreTrainedModel  # the upstream with a fresh head
    processor: object  # saved beside the model: the feature extractor, with the tokenizer for asr
    metric_names: tuple[str, ...]  # what the per-example outcomes are summarised into (statistics.metrics_of)
    keep_from_logits: Callable | None  # Trainer's preprocess_logits_for_metrics

    def targets(self, split: Dataset) -> list: ...

    def compute_metrics(self, prediction: EvalPrediction) -> dict: ...

    def outcomes(self, part: str, output: PredictionOutput, ids: list[str]) -> list[dict]: ...


TaskFamily = Callable[[ResolvedOptions, dict[str, Dataset], Wav2Vec2FeatureExtractor, Path], Task]

FAMILIES: dict[str, TaskFamily] = {"ctc": CtcTask, "classification": ClassificationTask}


def task_family(name: str) -> TaskFamily:
    if name not in TASKS:
        raise UsageError(f"--task {name}: no such task; choose one of {', '.join(TASKS)}.")
    return FAMILIES[TASKS[name].family]
