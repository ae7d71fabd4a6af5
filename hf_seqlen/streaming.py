"""Pre-training data streamed rather than downloaded first (`--streaming`), for corpora too large
for the disk: each file's header is read as it arrives, one random crop is drawn with the same
(seed, epoch, index) rule as the map-style path, and only that range is decoded.

Differences from the map-style path, each for a reason: batches are by count in stream order
(lengths are not known ahead, so there is no grouping by length); processes split the stream
with `split_dataset_by_node`; a resumed run skips the examples it already consumed by reading
past them without decoding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import torch
from datasets import Audio, IterableDataset, load_dataset
from datasets.distributed import split_dataset_by_node

from .audio import BadAudioError, decode_range, normalize, random_crop, read_info
from .data import DEMO_CORPUS, DataSourceError, load_audio_folder
from .preemption import ignore_stop_signals

SHUFFLE_BUFFER = 1000


def load_audio_stream(split: str, dataset_name: str | None, dataset_config_name: str | None,
                      data_dir: str | None, audio_column: str) -> IterableDataset:
    """A split as an undecoded stream: a Hub dataset streamed, or a local folder read lazily."""
    if dataset_name:
        try:
            stream = load_dataset(dataset_name, dataset_config_name, split=split, streaming=True)
        except (ValueError, ConnectionError, OSError) as error:
            raise DataSourceError(f"cannot stream Hub dataset '{dataset_name}' split '{split}': {error}") from None
    else:
        folder = load_audio_folder(Path(data_dir) if data_dir else DEMO_CORPUS, split)
        stream = folder.to_iterable_dataset(num_shards=min(8, len(folder)))
    if audio_column not in (stream.column_names or [audio_column]):
        raise DataSourceError(f"the stream has no column '{audio_column}'; name it with --audio_column_name.")
    return stream.cast_column(audio_column, Audio(decode=False))


class StreamingCrops(torch.utils.data.IterableDataset):
    """Random crops of a stream, decoded by range; this process's part of it only.

    Bad audio comes back marked (as in `CroppedAudio`), so the training loop decides per
    --on_bad_audio; files shorter than min_duration are passed over.
    """

    def __init__(self, stream: IterableDataset, audio_column: str, sampling_rate: int, max_duration: float,
                 min_duration: float, seed: int, rank: int, world_size: int):
        self.stream = split_dataset_by_node(stream, rank=rank, world_size=world_size)
        self.stream = self.stream.shuffle(seed=seed, buffer_size=SHUFFLE_BUFFER)
        self.audio_column, self.sampling_rate = audio_column, sampling_rate
        self.max_duration, self.min_duration, self.seed = max_duration, min_duration, seed
        self.epoch, self.skip_examples = 0, 0

    def set_epoch(self, epoch: int, skip_examples: int = 0) -> None:
        self.epoch, self.skip_examples = epoch, skip_examples
        self.stream.set_epoch(epoch)

    def __iter__(self) -> Iterator[dict]:
        for index, example in enumerate(self.stream):
            if index < self.skip_examples:
                continue
            ref = example[self.audio_column]
            try:
                duration = read_info(ref).duration
                if duration < self.min_duration:
                    continue
                crop = random_crop(index, duration, self.max_duration, self.seed, self.epoch)
                values = decode_range(ref, crop.start, crop.length, self.sampling_rate)
            except BadAudioError as error:
                yield {"crop": None, "epoch": self.epoch, "bad_audio": (error.name, error.reason)}
                continue
            yield {"crop": crop, "epoch": self.epoch, "input_values": normalize(values)}


class StreamingBatches:
    """The loop's view of a stream: like `CropBatchSampler` plus its DataLoader, for an epoch of
    unknown length. The position is kept in examples, so a resume skips without decoding."""

    batches_in_epoch = None  # unknown until the stream ends

    def __init__(self, crops: StreamingCrops, batch_size: int, collator, num_workers: int, pin_memory: bool):
        self.dataset, self.batch_size = crops, batch_size  # `dataset`, as a DataLoader names it
        self.loader = torch.utils.data.DataLoader(crops, batch_size=batch_size, collate_fn=collator,
                                                  num_workers=num_workers, pin_memory=pin_memory,
                                                  worker_init_fn=ignore_stop_signals)

    @property
    def max_duration(self) -> float:
        return self.dataset.max_duration

    @max_duration.setter
    def max_duration(self, seconds: float) -> None:
        self.dataset.max_duration = seconds

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.dataset.set_epoch(epoch, skip_examples=skip_batches * self.batch_size)

    def __iter__(self):
        return iter(self.loader)
