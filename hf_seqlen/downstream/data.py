"""Labelled splits for a downstream task, a Dataset that decodes them, and the collator.

Sources are those of pre-training (Hub dataset, local audio folder, the demo corpus). On the demo
corpus: kws reads the keyword clips (label `keyword`), asr the sentences (`text`), sid the
sentences (label `speaker`). The demo's splits hold out voices, which suits kws and asr but not
speaker identification, whose test speakers must be seen in training: for sid the training
voices' sentences are split per voice, in file order, position % 5 == 3 to eval and == 4 to test.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from datasets import ClassLabel, Dataset

from ..corpus.audio import AudioDecoder, pad_audio, random_crop
from ..corpus.sources import DataSourceError, describe_source, load_audio_split, select_usable, with_durations
from .task_table import TASKS

logger = logging.getLogger(__name__)

# With --keep_labels, every other label becomes this class (the Speech Commands convention).
OTHER_LABEL = "_unknown_"

DEMO_KIND = {"asr": "sentence", "kws": "keyword", "sid": "sentence"}
SID_DEMO_FOLDS = 5
SID_DEMO_POSITION = {"eval": 3, "test": 4}
# Columns that name an example's speaker, in the order they are looked for (results.py writes it as `cluster`).
SPEAKER_COLUMNS = ("speaker", "speaker_id")
# Clips shorter than this make fewer frames than the feature encoder needs; they are dropped.
MIN_SECONDS = 0.1


@dataclass(frozen=True)
class TaskData:
    """Where a task's labelled audio comes from and how it is read, with the task's defaults filled in
    (args.resolve makes it from the options)."""

    task: str
    dataset_name: str | None
    dataset_config_name: str | None
    data_dir: str | None
    cache_dir: str | None
    split_names: dict[str, str]  # {"train": ..., "eval": ..., "test": ...}: the parts named, each its split's name
    audio_column_name: str
    text_column_name: str
    label_column_name: str | None
    keep_labels: tuple[str, ...] | None
    max_duration: float
    max_eval_samples: int | None

    @property
    def is_classification(self) -> bool:
        return TASKS[self.task].is_classification


def _in_demo_layout(data: TaskData) -> bool:
    """The demo corpora (the shipped one, or one made by `hf-seqlen demo-corpus`) hold sentences and
    keyword clips side by side, told apart by a `kind` column; each task takes its own kind."""
    return not data.dataset_name and "kind" in _load(data, data.split_names["train"]).column_names


def _load(data: TaskData, name: str) -> Dataset:
    return load_audio_split(
        name, data.dataset_name, data.dataset_config_name, data.data_dir, data.audio_column_name, data.cache_dir
    )


def _sid_demo_part(train: Dataset, part: str, speaker_column: str) -> Dataset:
    position_in_voice = []
    seen: dict[str, int] = {}
    for speaker in train[speaker_column]:
        position_in_voice.append(seen.get(speaker, 0))
        seen[speaker] = position_in_voice[-1] + 1
    folds = np.asarray(position_in_voice) % SID_DEMO_FOLDS
    held_out = set(SID_DEMO_POSITION.values())
    keep = np.isin(folds, list(held_out), invert=True) if part == "train" else folds == SID_DEMO_POSITION[part]
    return train.select(np.flatnonzero(keep))


def load_task_splits(data: TaskData) -> dict[str, Dataset]:
    """{"train": ..., "eval": ..., "test": ...} (eval/test only when named), with the target column checked."""
    names = data.split_names
    if _in_demo_layout(data):
        if data.task not in DEMO_KIND:
            raise DataSourceError(
                f"{describe_source(None, data.data_dir)} has no data for --task {data.task} (it has "
                f"{', '.join(DEMO_KIND)}); give --data_dir or --dataset_name."
            )
        if data.task == "sid":
            train = _load(data, names["train"]).filter(lambda kind: kind == "sentence", input_columns="kind")
            splits = {part: _sid_demo_part(train, part, data.label_column_name) for part in names}
        else:
            kind = DEMO_KIND[data.task]
            splits = {
                part: _load(data, name).filter(lambda k: k == kind, input_columns="kind")
                for part, name in names.items()
            }
    else:
        splits = {part: _load(data, name) for part, name in names.items()}
    target = data.label_column_name if data.is_classification else data.text_column_name
    for part, dataset in splits.items():
        if target not in dataset.column_names:
            option = "--label_column" if data.is_classification else "--text_column"
            raise DataSourceError(
                f"{describe_source(data.dataset_name, data.data_dir)} split '{names[part]}' has no column "
                f"'{target}' (columns: {', '.join(dataset.column_names)}); name the right one with {option}."
            )
    if data.keep_labels:
        splits = _merge_other_labels(splits, target, data.keep_labels)
    return {part: _usable(dataset, part, data) for part, dataset in splits.items()}


def _usable(dataset: Dataset, part: str, data: TaskData) -> Dataset:
    """Readable files with durations; for asr training, those short enough not to need a crop."""
    if len(dataset) == 0:
        raise DataSourceError(
            f"the {part} split of {describe_source(data.dataset_name, data.data_dir)} holds no "
            f"audio for --task {data.task}."
        )
    dataset = with_durations(dataset, data.audio_column_name)
    report = select_usable(dataset, MIN_SECONDS, on_bad_audio="skip", audio_column=data.audio_column_name)
    rows = report.kept_rows
    if part == "train" and not data.is_classification:
        too_long = report.kept_durations > data.max_duration
        if too_long.any():
            logger.info(
                "asr: %d training utterances longer than --max_duration %g s dropped", too_long.sum(), data.max_duration
            )
        rows = rows[~too_long]
    if part != "train" and data.max_eval_samples is not None:
        rows = rows[: data.max_eval_samples]
    logger.info("%s: %s", part, report.summary())
    if len(rows) == 0:
        raise DataSourceError(f"the {part} split holds no usable audio ({report.summary()}).")
    return dataset.select(rows)


def label_names(dataset: Dataset, column: str) -> list[str]:
    """The labels of a column as strings, whether it holds names or ClassLabel ids."""
    feature = dataset.features[column]
    if isinstance(feature, ClassLabel):
        return [feature.int2str(int(value)) for value in dataset[column]]
    return [str(value) for value in dataset[column]]


def example_clusters(dataset, task: str, label_column: str | None) -> list[str] | None:
    """Each example's speaker: a speaker column, else for speaker identification the label; None when unknown."""
    column = next((c for c in SPEAKER_COLUMNS if c in dataset.column_names), None)
    if column is None and task == "sid" and label_column in dataset.column_names:
        column = label_column
    return None if column is None else label_names(dataset, column)


def _merge_other_labels(splits: dict[str, Dataset], column: str, keep: tuple[str, ...]) -> dict[str, Dataset]:
    """Labels outside `keep` become one class, OTHER_LABEL; a kept label the training split lacks is a mistake."""
    train_labels = set(label_names(splits["train"], column))
    missing = sorted(set(keep) - train_labels)
    if missing:
        raise DataSourceError(
            f"--keep_labels {' '.join(missing)}: no such label in column '{column}' of the "
            f"training split (it has: {', '.join(sorted(train_labels)[:40])})."
        )

    def merged(dataset: Dataset) -> Dataset:
        names = [name if name in keep else OTHER_LABEL for name in label_names(dataset, column)]
        return dataset.remove_columns(column).add_column(column, names)

    return {part: merged(dataset) for part, dataset in splits.items()}


def training_crop(index: int, length: float, crop_length: float, seed: int) -> tuple[float, float]:
    """(start, length) of a random training crop of utterance `index`, in the unit of `length`: a new
    one each time the utterance is drawn, seeded through torch, so DataLoader workers differ."""
    crop = random_crop(index, length, crop_length, seed, int(torch.randint(2**31 - 1, ())))
    return crop.start, crop.length


class LabelledAudio(torch.utils.data.Dataset):
    """Decodes utterance i with its target. Training: a random `crop_seconds` crop (a new one each
    time the utterance is drawn, seeded through torch, so DataLoader workers differ); else whole."""

    def __init__(
        self,
        dataset: Dataset,
        targets: list[Any],
        decoder: AudioDecoder,
        audio_column: str = "audio",
        crop_seconds: float | None = None,
        seed: int = 0,
    ):
        self.audio = dataset[audio_column]
        self.durations = dataset["duration"]
        self.targets = targets
        self.decoder, self.crop_seconds, self.seed = decoder, crop_seconds, seed

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> dict:
        start, length = 0.0, None
        if self.crop_seconds is not None:
            start, length = training_crop(index, self.durations[index], self.crop_seconds, self.seed)
        return {"input_values": self.decoder(self.audio[index], start, length), "labels": self.targets[index]}


@dataclass
class AudioCollator:
    """Pads audio with zeros (and an attention mask when the feature extractor wants one); class ids
    become a tensor, token sequences are padded with -100 (ignored by the CTC loss)."""

    return_attention_mask: bool = True

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        values, attention_mask = pad_audio([f["input_values"] for f in features])
        batch = {"input_values": values}
        if self.return_attention_mask:
            batch["attention_mask"] = attention_mask
        batch["labels"] = stack_labels([f["labels"] for f in features])
        return batch


def stack_labels(labels: list[Any]) -> torch.Tensor:
    """Class ids as one tensor; token sequences padded with -100 (ignored by the CTC loss)."""
    return _pad_sequences(labels) if isinstance(labels[0], list) else torch.tensor(labels)


def _pad_sequences(sequences: list[list[int]], value: int = -100) -> torch.Tensor:
    padded = torch.full((len(sequences), max(len(s) for s in sequences)), value, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return padded


def task_datasets(
    splits: dict[str, Dataset], encode: Callable[[Dataset], list[Any]], data: TaskData, decoder: AudioDecoder, seed: int
) -> dict[str, LabelledAudio]:
    """Each split as a decoding Dataset; only training is cropped, and only for classification."""
    crop = data.max_duration if data.is_classification else None
    return {
        part: LabelledAudio(
            dataset, encode(dataset), decoder, data.audio_column_name, crop if part == "train" else None, seed
        )
        for part, dataset in splits.items()
    }
