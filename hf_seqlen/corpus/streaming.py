"""Pre-training data streamed rather than downloaded first (`--streaming`), for corpora too large
for the disk: each file's header is read as it arrives, one random crop is drawn with the same
(seed, epoch, index) rule as the map-style path, and only that range is decoded.

Differences from the map-style path, each for a reason: batches are by count in stream order
(lengths are not known ahead, so there is no grouping by length); processes split the stream
with `split_dataset_by_node` (and DataLoader workers by shards); a resumed run skips the examples
each worker already consumed by reading past them without decoding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from datasets import Audio, IterableDataset, load_dataset
from datasets.distributed import split_dataset_by_node

from ..option_parsing import UsageError
from .audio import AudioDecoder, BadAudioError, bucket_lengths, random_crop, read_info
from .sources import DEMO_CORPUS, BatchPlan, DataSourceError, load_audio_folder

SHUFFLE_BUFFER = 1000


def load_audio_stream(
    split: str, dataset_name: str | None, dataset_config_name: str | None, data_dir: str | None, audio_column: str
) -> IterableDataset:
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

    Inside DataLoader workers, `datasets` gives each worker its own shards of the stream. Every
    item carries its worker and how many examples that worker has read, so a resume skips exactly
    what each worker consumed, and a crop's index is unique over processes and workers (crops and
    masks are seeded by it). Bad audio comes back marked (as in `CroppedAudio`), so the training
    loop decides per --on_bad_audio; files shorter than min_duration are passed over.
    """

    def __init__(
        self,
        stream: IterableDataset,
        audio_column: str,
        decoder: AudioDecoder,
        plan: BatchPlan,
        rank: int = 0,
        world_size: int = 1,
    ):
        """`plan`: its crop lengths, seed and length buckets (a stream's batches are counts of crops)."""
        self.stream = split_dataset_by_node(stream, rank=rank, world_size=world_size)
        self.stream = self.stream.shuffle(seed=plan.seed, buffer_size=SHUFFLE_BUFFER)
        self.audio_column, self.decoder, self.plan = audio_column, decoder, plan
        self.max_duration = plan.max_duration  # a length schedule moves it
        self.rank, self.world_size = rank, world_size
        self.epoch, self.consumed = 0, {}

    def set_epoch(self, epoch: int, consumed: dict[int, int] | None = None) -> None:
        """`consumed`: per worker, the examples it had read of this epoch (a resume skips them)."""
        self.epoch, self.consumed = epoch, dict(consumed or {})
        self.stream.set_epoch(epoch)

    def __iter__(self) -> Iterator[dict]:
        worker = torch.utils.data.get_worker_info()
        worker_id, num_workers = (worker.id, worker.num_workers) if worker else (0, 1)
        skip = self.consumed.get(worker_id, 0)
        buckets = bucket_lengths(self.max_duration, self.plan.min_duration, self.plan.length_buckets)
        for position, example in enumerate(self.stream):
            if position < skip:
                continue
            read = (worker_id, position + 1)
            index = (position * num_workers + worker_id) * self.world_size + self.rank
            ref = example[self.audio_column]
            try:
                duration = read_info(ref).duration
                if duration < self.plan.min_duration:
                    continue
                crop = random_crop(index, duration, self.max_duration, self.plan.seed, self.epoch, buckets)
                values = self.decoder(ref, crop.start, crop.length)
            except BadAudioError as error:
                yield {"crop": None, "epoch": self.epoch, "bad_audio": (error.name, error.reason), "read": read}
                continue
            yield {"crop": crop, "epoch": self.epoch, "input_values": values, "read": read}


@dataclass
class CollateWithPosition:
    """The pre-training collator, plus how far the batch's worker has read: a batch is made inside
    one worker, so its last item's position is that worker's."""

    collate: Callable[[list[dict]], dict]

    def __call__(self, items: list[dict]) -> dict:
        return {**self.collate(items), "read": max(item["read"] for item in items)}


class StreamingBatches:
    """The loop's view of a stream: like `CropBatchSampler` plus its DataLoader, for an epoch of
    unknown length, resumable exactly without decoding what was trained on.

    Workers hand out batches in turns (worker 0, 1, ..., N-1, then 0 again). The position kept is
    where each worker stood when the current turn began, and how many batches of the turn were
    trained on: a resume restarts the turn and drops those batches, so it continues in the order of
    the uninterrupted run. Once a worker's shards run out the turns break; from then on each worker's
    own position is kept, and after a resume the order of the epoch's last batches may differ,
    never which crops they hold.
    """

    batches_in_epoch = None  # unknown until the stream ends

    def __init__(self, crops: StreamingCrops, batch_size: int, collator, loader_settings: dict):
        self.dataset, self.num_workers = crops, loader_settings["num_workers"]  # `dataset`, as a DataLoader names it
        # Workers seed from this generator, not the global one, so resuming does not shift dropout.
        self.loader = torch.utils.data.DataLoader(
            crops,
            batch_size=batch_size,
            collate_fn=CollateWithPosition(collator),
            generator=torch.Generator().manual_seed(crops.plan.seed),
            **loader_settings,
        )
        self._start_epoch()

    def _start_epoch(self) -> None:
        self.read: dict[int, int] = {}  # examples each worker has read
        self.turn_start: dict[int, int] = {}  # ... when the current turn began
        self.into_turn = 0  # batches of the current turn handed out
        self.in_turns = True  # every batch so far came from the worker whose turn it was
        self.to_drop = 0

    @property
    def max_duration(self) -> float:
        return self.dataset.max_duration

    @max_duration.setter
    def max_duration(self, seconds: float) -> None:
        self.dataset.max_duration = seconds

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """A new epoch reads from the start; a resumed one (skip_batches > 0) from its checkpoint's position."""
        if not skip_batches:
            self._start_epoch()
        elif self.in_turns:  # restart the turn; its batches already trained on are read again and dropped
            self.read, self.to_drop, self.into_turn = dict(self.turn_start), self.into_turn, 0
        self.dataset.set_epoch(epoch, self.read)

    def __iter__(self) -> Iterator[dict]:
        turn_length = max(self.num_workers, 1)
        for batch in self.loader:
            worker, self.read[worker] = batch.pop("read")
            self.in_turns = self.in_turns and worker == self.into_turn
            self.into_turn = (self.into_turn + 1) % turn_length
            if self.in_turns and self.into_turn == 0:
                self.turn_start = dict(self.read)
            if self.to_drop:
                self.to_drop -= 1
                continue
            yield batch

    def state_dict(self) -> dict:
        return {
            "num_workers": self.num_workers,
            "read": self.read,
            "turn_start": self.turn_start,
            "into_turn": self.into_turn,
            "in_turns": self.in_turns,
        }

    def load_state_dict(self, state: dict) -> None:
        if state["num_workers"] != self.num_workers:
            raise UsageError(
                f"this streamed run was checkpointed with --dataloader_num_workers {state['num_workers']}: resume "
                "with the same number, since each worker's position in the stream is its own."
            )
        self.read = {int(worker): read for worker, read in state["read"].items()}
        self.turn_start = {int(worker): read for worker, read in state["turn_start"].items()}
        self.into_turn, self.in_turns = state["into_turn"], state["in_turns"]
