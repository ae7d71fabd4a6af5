"""Where training audio comes from and how it is cut into batches.

dataset (Hub | local audio folder | demo corpus) -> Audio(decode=False) -> durations from headers
(cached by `datasets`) -> bad and too-short files dropped and counted -> a crop plan per epoch ->
length-grouped batches of crops, sharded over processes -> decoded only in the cropped range.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Audio, Dataset, concatenate_datasets, load_dataset

from .audio import AudioDecoder, BadAudioError, Crop, bucket_lengths, chunk_crops, random_crop, read_info

logger = logging.getLogger(__name__)

DEMO_CORPUS = Path(__file__).resolve().parents[1] / "demo_corpus"
FOLDER_SPLITS = ("train", "validation", "test")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif", ".au", ".w64")


class DataSourceError(ValueError):
    """A dataset, folder, split or column the user named cannot be found or used."""


# --------------------------------------------------------------------------- sources


def describe_source(dataset_name: str | None, data_dir: str | None) -> str:
    if dataset_name:
        return f"Hub dataset '{dataset_name}'"
    return f"audio folder '{data_dir}'" if data_dir else "the embedded demo corpus"


def load_audio_split(
    split: str,
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    data_dir: str | None = None,
    audio_column: str = "audio",
    cache_dir: str | None = None,
) -> Dataset:
    """One split as a `Dataset` whose audio column holds undecoded references (path/bytes)."""
    source = describe_source(dataset_name, data_dir)
    if dataset_name:
        try:
            dataset = load_dataset(dataset_name, dataset_config_name, split=split, cache_dir=cache_dir)
        except ValueError as error:  # unknown split or config
            raise DataSourceError(f"{source}: {error}") from None
        except (ConnectionError, OSError, FileNotFoundError) as error:
            raise DataSourceError(
                f"cannot load {source} ({type(error).__name__}: {error}). It is neither cached nor "
                "reachable: run once with network access to cache it, or point --data_dir at a local "
                "audio folder."
            ) from None
    else:
        dataset = load_audio_folder(Path(data_dir) if data_dir else DEMO_CORPUS, split, cache_dir)
    if audio_column not in dataset.column_names:
        raise DataSourceError(
            f"{source} split '{split}' has no column '{audio_column}' (columns: "
            f"{', '.join(dataset.column_names)}); name it with --audio_column_name."
        )
    return dataset.cast_column(audio_column, Audio(decode=False))


def _folder_splits(folder: Path) -> dict[str, Path]:
    found = {name: folder / name for name in FOLDER_SPLITS if (folder / name).is_dir()}
    return found or {"train": folder}


def load_audio_folder(folder: Path, split: str, cache_dir: str | None = None) -> Dataset:
    """A split of a folder in the `audiofolder` layout, without decoding anything.

    Split sub-folders (train/, validation/, test/) or one flat folder (all 'train'); a
    metadata.csv or metadata.jsonl whose `file_name` column names files relative to it, read
    with datasets' csv/json loaders (typed, cached). With no metadata, every audio file is a row
    and, when files sit in sub-folders, the sub-folder name is its `label`.
    `load_dataset("audiofolder")` reads the same layout, but from datasets 4 on it needs
    torchcodec and FFmpeg even to list undecoded paths; this needs neither.
    """
    if not folder.is_dir():
        raise DataSourceError(f"--data_dir {folder}: no such directory")
    splits = _folder_splits(folder)
    if split not in splits:
        raise DataSourceError(
            f"audio folder '{folder}' has no split '{split}' (it has: {', '.join(splits)}). Splits are the "
            f"sub-folders {', '.join(FOLDER_SPLITS)}; a folder without them is all 'train'."
        )
    root = splits[split]
    metadata = [root / name for name in ("metadata.csv", "metadata.jsonl") if (root / name).is_file()]
    if metadata:
        builder = "csv" if metadata[0].suffix == ".csv" else "json"
        table = load_dataset(builder, data_files=str(metadata[0]), split="train", cache_dir=cache_dir)
        if "file_name" not in table.column_names:
            raise DataSourceError(
                f"{metadata[0]} has no 'file_name' column (columns: {', '.join(table.column_names)})."
            )
        paths = [str(root / name) for name in table["file_name"]]
        table = table.add_column("audio", paths).remove_columns("file_name")  # file_name may be its only column
    else:
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
        if not files:
            raise DataSourceError(f"audio folder '{root}' holds no audio files ({', '.join(AUDIO_EXTENSIONS)}).")
        columns = {"audio": [str(p) for p in files]}
        labels = [p.parent.name for p in files]
        if len(set(labels)) > 1:
            columns["label"] = labels
        table = Dataset.from_dict(columns)
    return table.cast_column("audio", Audio(decode=False))


def load_audio_splits(splits: Sequence[str], **source: Any) -> Dataset:
    """Several splits (e.g. LibriSpeech's train.clean.100 train.clean.360 train.other.500) as one."""
    parts = [load_audio_split(split, **source) for split in splits]
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


def split_names(dataset_name: str | None, dataset_config_name: str | None, data_dir: str | None) -> list[str]:
    from datasets import get_dataset_split_names

    if dataset_name:
        return get_dataset_split_names(dataset_name, dataset_config_name)
    return list(_folder_splits(Path(data_dir) if data_dir else DEMO_CORPUS))


# --------------------------------------------------------------------------- durations


def _header_duration(example: dict, audio_column: str) -> dict:
    try:
        return {"duration": read_info(example[audio_column]).duration, "bad_audio": ""}
    except BadAudioError as error:
        return {"duration": 0.0, "bad_audio": error.reason}


def with_durations(dataset: Dataset, audio_column: str = "audio", num_proc: int | None = None) -> Dataset:
    """Add `duration` (seconds, from the header) and `bad_audio` (a reason, or empty) columns.

    `datasets` caches the result by fingerprint, so the headers of a corpus are read once.
    """
    return dataset.map(
        _header_duration,
        fn_kwargs={"audio_column": audio_column},
        num_proc=num_proc,
        desc="Reading durations from audio headers",
    )


@dataclass
class SelectionReport:
    """What was kept of a split, and what was dropped and why."""

    total: int
    kept_rows: np.ndarray
    kept_durations: np.ndarray
    too_short: int
    bad_audio: list[tuple[str, str]] = field(default_factory=list)

    @property
    def kept_hours(self) -> float:
        return float(self.kept_durations.sum()) / 3600

    def summary(self) -> str:
        return (
            f"{len(self.kept_rows)} of {self.total} files kept ({self.kept_hours:.3f} h); "
            f"{self.too_short} shorter than --min_duration dropped; {len(self.bad_audio)} bad files skipped"
        )


def select_usable(
    dataset: Dataset, min_duration: float, on_bad_audio: str, audio_column: str = "audio"
) -> SelectionReport:
    """Rows long enough and readable. Bad files stop the run or are skipped, per --on_bad_audio."""
    durations = np.asarray(dataset["duration"], dtype=np.float64)
    reasons = dataset["bad_audio"]
    bad = [i for i, reason in enumerate(reasons) if reason]
    bad_audio = []
    for i in bad:
        ref = dataset[i][audio_column]
        name = ref.get("path") or f"row {i}"
        if on_bad_audio == "error":
            raise BadAudioError(name, reasons[i])
        logger.warning("skipping bad audio %s: %s", name, reasons[i])
        bad_audio.append((name, reasons[i]))
    good = np.array([not reason for reason in reasons], dtype=bool)
    long_enough = durations >= min_duration
    kept = np.flatnonzero(good & long_enough)
    return SelectionReport(
        total=len(durations),
        kept_rows=kept,
        kept_durations=durations[kept],
        too_short=int((good & ~long_enough).sum()),
        bad_audio=bad_audio,
    )


# --------------------------------------------------------------------------- crop plans and batches


def plan_crops(
    rows: np.ndarray,
    durations: np.ndarray,
    max_duration: float,
    crop_mode: str,
    seed: int,
    epoch: int,
    min_duration: float = 0.0,
    length_buckets: int = 0,
) -> list[Crop]:
    """The samples of one epoch: one random window per utterance, or every consecutive chunk; with
    `length_buckets`, every length snapped down to one of that many (`bucket_lengths`)."""
    buckets = bucket_lengths(max_duration, min_duration, length_buckets)
    if crop_mode == "random":
        return [random_crop(int(row), float(d), max_duration, seed, epoch, buckets) for row, d in zip(rows, durations)]
    return [
        crop
        for row, d in zip(rows, durations)
        for crop in chunk_crops(int(row), float(d), max_duration, min_duration, buckets)
    ]


def group_into_batches(
    crops: Sequence[Crop],
    seed: int,
    epoch: int,
    batch_size: int | None = None,
    max_batch_seconds: float | None = None,
) -> list[list[Crop]]:
    """Batches of crops of similar length (little padding), in a shuffled order.

    With `max_batch_seconds`, a batch holds as many crops as fit that budget counted with
    padding (size x longest), so short crops give large batches and long crops small ones.
    """
    rng = np.random.default_rng([seed, epoch, 1])
    shuffled = [crops[i] for i in rng.permutation(len(crops))]
    ordered = sorted(shuffled, key=lambda crop: crop.length)  # stable: ties stay shuffled
    batches: list[list[Crop]] = []
    current: list[Crop] = []
    for crop in ordered:
        full = (
            len(current) >= batch_size
            if max_batch_seconds is None
            else (len(current) + 1) * crop.length > max_batch_seconds
        )
        if current and full:
            batches.append(current)
            current = []
        current.append(crop)
    if current:
        batches.append(current)
    return [batches[i] for i in rng.permutation(len(batches))]


def shard_batches(batches: list[list[Crop]], rank: int, world_size: int) -> list[list[Crop]]:
    """This process's batches: every crop on exactly one process, every process the same count.

    The last batches that do not divide evenly are split in halves, the largest first, until each
    process has one; half a batch never exceeds the batch's limit (count or padded seconds). When
    crops are fewer than processes, some processes get an empty last batch: the training loop lets
    them join the update with weight 0.
    """
    if world_size == 1:
        return batches
    even = len(batches) - len(batches) % world_size
    mine = batches[rank:even:world_size]
    tail = batches[even:]
    if tail:
        while len(tail) < world_size and max(len(batch) for batch in tail) > 1:
            largest = max(range(len(tail)), key=lambda i: len(tail[i]))
            batch = tail.pop(largest)
            tail += [batch[: len(batch) // 2], batch[len(batch) // 2 :]]
        tail += [[] for _ in range(world_size - len(tail))]
        mine.append(tail[rank])
    return mine


@dataclass(frozen=True)
class BatchPlan:
    """How crops are cut and grouped into batches, as one value: the crops' lengths, how they are drawn, and
    what fills a batch (a count of crops, or padded seconds when `max_batch_seconds` is set)."""

    max_duration: float
    crop_mode: str = "random"
    seed: int = 0
    min_duration: float = 0.0
    batch_size: int | None = 8
    max_batch_seconds: float | None = None
    length_buckets: int = 0

    def crops(self, rows: np.ndarray, durations: np.ndarray, epoch: int, max_duration: float) -> list[Crop]:
        """The epoch's crops of at most `max_duration` (the plan's, or the length a schedule has reached)."""
        return plan_crops(
            rows,
            durations,
            max_duration,
            crop_mode=self.crop_mode,
            seed=self.seed,
            epoch=epoch,
            min_duration=self.min_duration,
            length_buckets=self.length_buckets,
        )

    def batches(self, crops: Sequence[Crop], epoch: int) -> list[list[Crop]]:
        return group_into_batches(crops, self.seed, epoch, self.batch_size, self.max_batch_seconds)


class CropBatchSampler(torch.utils.data.Sampler):
    """Yields batches of `Crop`s; the crop plan is redrawn by `set_epoch`.

    The plan lives here, in the main process, so DataLoader workers stay stateless and a resumed
    run can skip the batches it already trained on without decoding them.
    """

    def __init__(self, rows: np.ndarray, durations: np.ndarray, plan: BatchPlan, rank: int = 0, world_size: int = 1):
        self.rows, self.durations, self.plan = rows, durations, plan
        self.max_duration = plan.max_duration  # a length curriculum moves it during the run
        self.rank, self.world_size = rank, world_size
        self.set_epoch(0)

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.epoch = epoch
        batches = self.plan.batches(self.plan.crops(self.rows, self.durations, epoch, self.max_duration), epoch)
        mine = shard_batches(batches, self.rank, self.world_size)
        self.batches_in_epoch = len(mine)
        self.batches = mine[skip_batches:]

    def __iter__(self) -> Iterator[list[tuple[Crop, int]]]:
        # The epoch travels with each crop: the collator seeds its masks with it.
        for batch in self.batches:
            yield [(crop, self.epoch) for crop in batch]

    def __len__(self) -> int:
        return len(self.batches)


# --------------------------------------------------------------------------- decoding


class CroppedAudio(torch.utils.data.Dataset):
    """Decodes the crop the sampler names: only its range, mono, resampled, normalised.

    Bad audio is never raised here (a worker's exception loses its type); it comes back marked
    and the training loop decides per --on_bad_audio.
    """

    def __init__(self, dataset: Dataset, decoder: AudioDecoder, audio_column: str = "audio"):
        self.audio = dataset.select_columns([audio_column])
        self.audio_column = audio_column
        self.decoder = decoder

    def __len__(self) -> int:
        return len(self.audio)

    def __getitem__(self, item: tuple[Crop, int]) -> dict:
        crop, epoch = item
        return self._decoded(crop, epoch, self.audio[crop.index][self.audio_column])

    def __getitems__(self, items: list[tuple[Crop, int]]) -> list[dict]:
        """A batch's crops, as the DataLoader asks for them: their rows read in one query, not one per crop."""
        refs = self.audio[[crop.index for crop, _ in items]][self.audio_column]
        return [self._decoded(crop, epoch, ref) for (crop, epoch), ref in zip(items, refs)]

    def _decoded(self, crop: Crop, epoch: int, ref) -> dict:
        try:
            values = self.decoder(ref, crop.start, crop.length)
        except BadAudioError as error:
            return {"crop": crop, "epoch": epoch, "bad_audio": (error.name, error.reason)}
        return {"crop": crop, "epoch": epoch, "input_values": values}
