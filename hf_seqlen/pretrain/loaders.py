"""Pre-training's data: the train and validation splits read and checked, and the loaders that crop, decode and
collate them (a stream with --streaming), with DataLoader workers as --dataloader_* says."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch
from accelerate import Accelerator
from datasets import Dataset

from ..corpus.audio import AudioDecoder, Crop
from ..corpus.sources import (
    BatchPlan,
    CropBatchSampler,
    CroppedAudio,
    SelectionReport,
    load_audio_splits,
    select_usable,
    with_durations,
)
from ..corpus.streaming import StreamingBatches, StreamingCrops, load_audio_stream
from .args import DataArguments
from .collate import PretrainingCollator
from .preemption import ignore_stop_signals

# Enough to hide decoding behind a BASE step on an H200 (benchmarks/RESULTS.md, data wait).
GPU_LOADER_WORKERS = 4


@dataclass
class Split:
    dataset: Dataset
    selection: SelectionReport
    audio_column: str = "audio"


def load_splits(data_args: DataArguments, validation_split: str | None, seed: int) -> tuple[Split | None, Split]:
    """Train and validation files with durations; with no `validation_split` (as `args.resolve` names it) a share
    of train is held out. With --streaming, training audio is streamed later (None here)."""
    source = dict(
        dataset_name=data_args.dataset_name,
        dataset_config_name=data_args.dataset_config_name,
        data_dir=data_args.data_dir,
        audio_column=data_args.audio_column_name,
    )
    column, workers = data_args.audio_column_name, data_args.preprocessing_num_workers
    train = None
    if not data_args.streaming:
        train = with_durations(load_audio_splits(data_args.train_split_name, **source), column, workers)
    if validation_split:
        validation = with_durations(load_audio_splits([validation_split], **source), column, workers)
    else:  # held out: the share, but no more than are validated, so the rest train
        share = math.ceil(data_args.validation_split_percentage / 100 * len(train))
        held_out = train.train_test_split(test_size=min(share, data_args.max_eval_samples or share), seed=seed)
        train, validation = held_out["train"], held_out["test"]
    if data_args.max_eval_samples and len(validation) > data_args.max_eval_samples:
        rows = np.random.default_rng(seed).choice(len(validation), data_args.max_eval_samples, replace=False)
        validation = validation.select(np.sort(rows))

    def usable(dataset: Dataset) -> Split:
        selection = select_usable(dataset, data_args.min_duration, data_args.on_bad_audio, column)
        return Split(dataset, selection, column)

    return (usable(train) if train is not None else None), usable(validation)


def loader_workers(data_args: DataArguments, accelerator: Accelerator) -> int:
    """--dataloader_num_workers, or by default none on a CPU and up to GPU_LOADER_WORKERS on a GPU, leaving one
    of the process's share of CPU cores to the training loop."""
    if data_args.dataloader_num_workers is not None:
        return data_args.dataloader_num_workers
    if accelerator.device.type == "cpu":
        return 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()  # not on macOS
    cores = usable // int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    return max(0, min(GPU_LOADER_WORKERS, cores - 1))


def loader_settings(data_args: DataArguments, accelerator: Accelerator) -> dict:
    """How DataLoader workers decode and hand over batches, as --dataloader_* says."""
    workers = loader_workers(data_args, accelerator)
    # Default workers also live across epochs, so a small corpus does not start them anew every few batches; a
    # streamed epoch lives in its workers, so they must restart.
    chosen_for_the_user = data_args.dataloader_num_workers is None and workers > 0 and not data_args.streaming
    return dict(
        num_workers=workers,
        pin_memory=data_args.dataloader_pin_memory and accelerator.device.type == "cuda",
        prefetch_factor=data_args.dataloader_prefetch_factor if workers else None,
        persistent_workers=(data_args.dataloader_persistent_workers or chosen_for_the_user) and workers > 0,
        worker_init_fn=ignore_stop_signals,  # a stop signal is the training process's to handle
    )


def make_loader(
    split: Split, plan: BatchPlan, decoder: AudioDecoder, collator, accelerator: Accelerator, settings: dict
) -> tuple[torch.utils.data.DataLoader, CropBatchSampler]:
    """The loader of a split's crops as `plan` batches them, this process's shard; `settings` from
    loader_settings."""
    sampler = CropBatchSampler(
        split.selection.kept_rows,
        split.selection.kept_durations,
        plan,
        rank=accelerator.process_index,
        world_size=accelerator.num_processes,
    )
    loader = torch.utils.data.DataLoader(
        CroppedAudio(split.dataset, decoder, split.audio_column),
        batch_sampler=sampler,
        collate_fn=collator,
        # Workers seed from this generator, not the global one, so resuming does not shift dropout.
        generator=torch.Generator().manual_seed(plan.seed),
        **settings,
    )
    return loader, sampler


def streaming_batches(
    data_args: DataArguments,
    plan: BatchPlan,
    decoder: AudioDecoder,
    collator,
    accelerator: Accelerator,
    settings: dict,
) -> StreamingBatches:
    """The training split streamed (--streaming): crops as `plan` draws them, batched by count in stream order."""
    stream = load_audio_stream(
        data_args.train_split_name[0],
        data_args.dataset_name,
        data_args.dataset_config_name,
        data_args.data_dir,
        data_args.audio_column_name,
    )
    crops = StreamingCrops(
        stream,
        data_args.audio_column_name,
        decoder,
        plan,
        rank=accelerator.process_index,
        world_size=accelerator.num_processes,
    )
    return StreamingBatches(crops, plan.batch_size, collator, settings)


def stand_in_batch(collator: PretrainingCollator, seconds: float) -> dict:
    """Quiet noise for a process whose batches all held bad audio: it trains on this with weight 0,
    so it still joins the gradient all-reduce of the other processes."""
    noise = 0.01 * np.random.default_rng(0).standard_normal(int(seconds * collator.sampling_rate))
    return collator([{"crop": Crop(0, 0.0, seconds), "epoch": 0, "input_values": noise.astype(np.float32)}])
