"""wav2vec 2.0 pre-training on cropped sequences: the whole loop, on Accelerate.

A batch goes: CropBatchSampler (which crops) -> CroppedAudio (decode only that range) ->
PretrainingCollator (pad, mask, negatives) -> Wav2Vec2ForPreTraining -> loss summed over masked
frames, divided by the masked frames of every process -> AdamW update.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import (DistributedDataParallelKwargs, DistributedType, DynamoBackend, InitProcessGroupKwargs,
                               gather_object, set_seed)
from datasets import Dataset
from tqdm.auto import tqdm
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForPreTraining, get_scheduler

from .args import DataArguments, ModelArguments, PretrainingArguments, UsageError, validate
from .audio import AudioDecoder, BadAudioError, Crop
from .budget import audio_per_update, epoch_zero_plan, flops_per_audio_second, steps_for_budget
from .checkpoints import complete_checkpoints, load_checkpoint, resolve_checkpoint, save_checkpoint
from .collate import PretrainingCollator, model_inputs, shortest_maskable_seconds
from .costs import CostMeter, cost_table_text
from .data import (
    CropBatchSampler,
    CroppedAudio,
    SelectionReport,
    describe_source,
    load_audio_splits,
    select_usable,
    split_names,
    with_durations,
)
from .feature_encoder_terms import FeatureEncoderTerms
from .hub import save_release, without_secrets
from .preemption import Preemption, SaveTriggers, ignore_stop_signals
from .process_group import leave_process_group
from .push import HubPublisher
from .schedule import DurationSchedule
from .streaming import StreamingBatches, StreamingCrops, load_audio_stream

logger = logging.getLogger("hf_seqlen.pretrain")

# Warn when fewer codevectors than this share of the codebook are in use.
PERPLEXITY_COLLAPSE_SHARE = 0.05
# What accumulate_gradients sums over an update, in its order; a log line's figures are made of them.
UPDATE_SUMS = ("loss", "contrastive_loss", "diversity_loss", "codevector_perplexity", "feature_penalty",
               "masked_frames", "audio_seconds", "batches")


@dataclass
class RunState:
    """Where the run is. A checkpoint saves it in progress.json, beside the model, optimizer and RNG states."""

    num_processes: int = 1  # a run resumes only with as many processes, each at its place in its shard
    step: int = 0  # optimizer updates done
    epoch: int = 0  # crop plans started on this process: one per pass over its data or per new crop length
    batches_done: int = 0  # of the current epoch's batches, on this process
    nonfinite_skipped: int = 0  # updates skipped for a non-finite gradient
    initial_eval: dict | None = None  # validation before the first update

    @classmethod
    def saved_in(cls, progress: dict, process_index: int = 0) -> RunState:
        """`process_positions` holds each process's epoch and batch (streamed shards differ in length, so one
        process can be an epoch ahead); a checkpoint written before it has the first process's for all."""
        known = {field.name for field in dataclasses.fields(cls)}
        run = cls(**{name: value for name, value in progress.items() if name in known})
        if "process_positions" in progress:
            position = progress["process_positions"][process_index]
            run.epoch, run.batches_done = position["epoch"], position["batches_done"]
        return run

    def start_epoch(self) -> None:
        """A new crop plan starts at its first batch."""
        self.epoch += 1
        self.batches_done = 0


class IntervalSums:
    """The updates' sums between two log lines, kept on the device: one all-reduce per log line."""

    def __init__(self, device: torch.device, wall_clock_seconds: float):
        self.sums = torch.zeros(len(UPDATE_SUMS), dtype=torch.float64, device=device)
        self.started = wall_clock_seconds

    def add(self, update_sums: torch.Tensor) -> None:
        self.sums += update_sums

    def take(self, accelerator: Accelerator, wall_clock_seconds: float) -> dict:
        """Every process's sums as a log line's losses and rates; the next interval starts now, from zero."""
        total = dict(zip(UPDATE_SUMS, accelerator.reduce(self.sums, "sum").tolist()))
        seconds, self.started = wall_clock_seconds - self.started, wall_clock_seconds
        self.sums.zero_()
        frames = total["masked_frames"]
        # The model's loss; a feature penalty (off by default) is added to what is minimised and shown apart.
        penalty = {"feature_penalty": total["feature_penalty"] / frames} if total["feature_penalty"] else {}
        return {
            "loss": total["loss"] / frames,
            "contrastive_loss": total["contrastive_loss"] / frames,
            "diversity_loss": total["diversity_loss"] / frames,
            **penalty,
            "codevector_perplexity": total["codevector_perplexity"] / total["batches"],
            "audio_seconds_per_second": total["audio_seconds"] / max(seconds, 1e-9),
        }


class NonfiniteUpdates:
    """Updates skipped for a non-finite gradient: each is logged; too many in a row stop the run."""

    def __init__(self, limit: int, output_dir: Path):
        self.limit, self.output_dir, self.in_a_row = limit, output_dir, 0

    def skipped(self, step: int) -> None:
        self.in_a_row += 1
        logger.warning("non-finite gradient at step %d: update skipped (%d in a row)", step, self.in_a_row)
        if self.in_a_row >= self.limit:
            last = complete_checkpoints(self.output_dir)
            resume_hint = (f"The last checkpoint, {last[-1]}, is intact: resume from it with "
                           "--resume_from_checkpoint latest" if last else "No checkpoint was written yet")
            raise FloatingPointError(
                f"{self.in_a_row} updates in a row had a non-finite loss or gradient (step {step}). {resume_hint}. "
                "Try a lower --learning_rate, a smaller --max_grad_norm, or --mixed_precision bf16 instead of fp16."
            )

    def passed(self) -> None:
        self.in_a_row = 0


@dataclass
class Split:
    dataset: Dataset
    selection: SelectionReport


def load_model(model_args: ModelArguments) -> tuple[Wav2Vec2ForPreTraining, Wav2Vec2FeatureExtractor]:
    config_path = model_args.resolve_config_path()
    extractor_path = model_args.feature_extractor_name or model_args.model_name_or_path or config_path
    feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained(extractor_path, cache_dir=model_args.cache_dir)
    if model_args.model_name_or_path:
        model = Wav2Vec2ForPreTraining.from_pretrained(model_args.model_name_or_path, cache_dir=model_args.cache_dir,
                                                       attn_implementation=model_args.attn_implementation)
    else:
        model = Wav2Vec2ForPreTraining(Wav2Vec2Config.from_pretrained(
            config_path, cache_dir=model_args.cache_dir, attn_implementation=model_args.attn_implementation))
    # from_pretrained returns a model in eval mode: no dropout, no layerdrop, a hard argmax quantizer.
    # Everything that follows (a FLOPs budget's measurement, the first update) sees the training model.
    model.train()
    return model, feature_extractor


def ddp_options(config: Wav2Vec2Config) -> DistributedDataParallelKwargs:
    """A layer skipped by layerdrop gets no gradient; DDP must be told to expect that, or it stops
    the next update waiting for those gradients. The search costs time, so only when layers drop."""
    return DistributedDataParallelKwargs(find_unused_parameters=config.layerdrop > 0)


def check_distributed_type(accelerator: Accelerator) -> None:
    """The update relies on DDP: no_sync while accumulating, and a loss scaled by the masked frames of
    every process before DDP's average. DeepSpeed and FSDP change both."""
    if accelerator.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP):
        raise UsageError(
            f"{accelerator.distributed_type.value} is not supported: pre-training runs on one device or on "
            "several with DDP (`accelerate config`: multi-GPU, or `accelerate launch --multi_gpu`). wav2vec2-large "
            "(317M parameters) fits one GPU with DDP; lower --max_batch_seconds and raise "
            "--gradient_accumulation_steps if memory is short.")


def load_splits(data_args: DataArguments, seed: int) -> tuple[Split | None, Split]:
    """Train and validation files with durations; a share of train is held out if no validation split.
    With --streaming, training audio is streamed later (None here) and validation must be a split."""
    source = dict(
        dataset_name=data_args.dataset_name,
        dataset_config_name=data_args.dataset_config_name,
        data_dir=data_args.data_dir,
        audio_column=data_args.audio_column_name,
    )
    validation_name = data_args.validation_split_name
    if validation_name is None and "validation" in split_names(
        data_args.dataset_name, data_args.dataset_config_name, data_args.data_dir
    ):
        validation_name = "validation"
    if data_args.streaming and not validation_name:
        raise UsageError("--streaming: no share of a stream can be held out; name a --validation_split_name.")
    train = None if data_args.streaming else with_durations(
        load_audio_splits(data_args.train_split_name, **source), data_args.audio_column_name,
        data_args.preprocessing_num_workers)
    if validation_name:
        validation = with_durations(load_audio_splits([validation_name], **source),
                                    data_args.audio_column_name, data_args.preprocessing_num_workers)
    else:  # held out: the share, but no more than are validated, so the rest train
        share = math.ceil(data_args.validation_split_percentage / 100 * len(train))
        held_out = train.train_test_split(test_size=min(share, data_args.max_eval_samples or share), seed=seed)
        train, validation = held_out["train"], held_out["test"]
    if data_args.max_eval_samples and len(validation) > data_args.max_eval_samples:
        rows = np.random.default_rng(seed).choice(len(validation), data_args.max_eval_samples, replace=False)
        validation = validation.select(np.sort(rows))

    def usable(dataset: Dataset) -> Split:
        selection = select_usable(dataset, data_args.min_duration, data_args.on_bad_audio, data_args.audio_column_name)
        return Split(dataset, selection)

    return (usable(train) if train is not None else None), usable(validation)


def streaming_batches(data_args: DataArguments, args: PretrainingArguments, decode: AudioDecoder,
                      collator: PretrainingCollator, accelerator) -> StreamingBatches:
    if len(data_args.train_split_name) > 1:
        raise UsageError("--streaming takes one --train_split_name.")
    stream = load_audio_stream(data_args.train_split_name[0], data_args.dataset_name, data_args.dataset_config_name,
                               data_args.data_dir, data_args.audio_column_name)
    crops = StreamingCrops(stream, data_args.audio_column_name, decode, data_args.max_duration,
                           data_args.min_duration, args.seed, accelerator.process_index, accelerator.num_processes,
                           data_args.length_buckets)
    return StreamingBatches(crops, args.per_device_train_batch_size, collator, loader_options(data_args, accelerator))


GPU_LOADER_WORKERS = 4  # enough to hide decoding behind a BASE step on an H200 (benchmarks/RESULTS.md, data wait)


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


def loader_options(data_args: DataArguments, accelerator: Accelerator) -> dict:
    """How DataLoader workers decode and hand over batches, as --dataloader_* says."""
    workers = loader_workers(data_args, accelerator)
    # Default workers also live across epochs, so a small corpus does not start them anew every few batches; a
    # streamed epoch lives in its workers, so they must restart.
    chosen_for_the_user = data_args.dataloader_num_workers is None and workers > 0 and not data_args.streaming
    return dict(num_workers=workers, pin_memory=data_args.dataloader_pin_memory and accelerator.device.type == "cuda",
                prefetch_factor=data_args.dataloader_prefetch_factor if workers else None,
                persistent_workers=(data_args.dataloader_persistent_workers or chosen_for_the_user) and workers > 0,
                worker_init_fn=ignore_stop_signals)  # a stop signal is the training process's to handle


def make_loader(split: Split, data_args, batch_size, max_batch_seconds, decode, collator, accelerator, seed, crop_mode):
    sampler = CropBatchSampler(
        split.selection.kept_rows,
        split.selection.kept_durations,
        max_duration=data_args.max_duration,
        crop_mode=crop_mode,
        seed=seed,
        min_duration=data_args.min_duration,
        batch_size=batch_size,
        max_batch_seconds=max_batch_seconds,
        rank=accelerator.process_index,
        world_size=accelerator.num_processes,
        length_buckets=data_args.length_buckets,
    )
    loader = torch.utils.data.DataLoader(
        CroppedAudio(split.dataset, decode, data_args.audio_column_name),
        batch_sampler=sampler,
        collate_fn=collator,
        # Workers seed from this generator, not the global one, so resuming does not shift dropout.
        generator=torch.Generator().manual_seed(seed),
        **loader_options(data_args, accelerator),
    )
    return loader, sampler


def contrastive_accuracy(outputs, batch: dict, temperature: float) -> tuple[int, int]:
    """Masked frames whose true quantized target scores above every distractor: (correct, total)."""
    quantized = outputs.projected_quantized_states
    batch_size, frames, dim = quantized.shape
    negatives = quantized.reshape(-1, dim)[batch["sampled_negative_indices"].to(quantized.device).reshape(-1)]
    negatives = negatives.reshape(batch_size, frames, -1, dim).permute(2, 0, 1, 3)
    logits = Wav2Vec2ForPreTraining.compute_contrastive_logits(
        quantized[None], negatives, outputs.projected_states, temperature
    )
    # A distractor identical to the target is no distractor (the model masks it the same way).
    logits[1:][(quantized[None] == negatives).all(-1)] = float("-inf")
    mask = batch["mask_time_indices"].to(logits.device)
    correct = (logits.argmax(0) == 0) & mask
    return int(correct.sum()), int(mask.sum())


@torch.no_grad()
def evaluate(model, loader, accelerator, temperature: float, note_bad_audio: Callable[[dict], None]) -> dict:
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64, device=accelerator.device)  # loss, contrastive, correct, masked
    for batch in loader:
        note_bad_audio(batch)
        if batch["num_samples"] == 0:
            continue
        outputs = model(**model_inputs(batch, accelerator.device))
        correct, masked = contrastive_accuracy(outputs, batch, temperature)
        sums += torch.tensor([outputs.loss.item(), outputs.contrastive_loss.item(), correct, masked],
                             dtype=torch.float64, device=accelerator.device)
    model.train()
    loss, contrastive, correct, masked = accelerator.reduce(sums, reduction="sum").tolist()
    masked = max(masked, 1)
    return {"eval_loss": loss / masked, "eval_contrastive_loss": contrastive / masked, "eval_accuracy": correct / masked}


def prepare_output_dir(output_dir: Path, args: PretrainingArguments) -> None:
    if args.resume_from_checkpoint or args.overwrite_output_dir or not output_dir.exists():
        return
    if any(output_dir.iterdir()):
        raise UsageError(
            f"--output_dir {output_dir} is not empty. Resume with --resume_from_checkpoint latest, "
            "pass --overwrite_output_dir, or choose another folder."
        )


def check_processes_joined(accelerator: Accelerator) -> None:
    """Processes launched together that each train alone would all write the same outputs."""
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != accelerator.num_processes:
        raise UsageError(
            f"launched as {launched} processes, but Accelerate joined {accelerator.num_processes}. On a machine "
            "without GPUs set ACCELERATE_USE_CPU=1, e.g. `ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 "
            "run_pretrain.py ...`."
        )


def check_min_duration(min_duration: float, collator: PretrainingCollator, mask_length_option: int | None) -> None:
    """--min_duration bounds the shortest crop, which must leave room to mask a span."""
    shortest = shortest_maskable_seconds(collator.config, collator.sampling_rate, collator.mask_length)
    if min_duration < shortest:
        source = "--mask_time_length" if mask_length_option else "the config's mask_time_length"
        raise UsageError(
            f"--min_duration {min_duration:g} s is too short to mask: a span of {collator.mask_length} frames "
            f"({source}) needs crops of at least {shortest:.3f} s. Use --min_duration {math.ceil(shortest * 100) / 100:g} "
            "or more.")


def stand_in_batch(collator: PretrainingCollator, seconds: float) -> dict:
    """Quiet noise for a process whose batches all held bad audio: it trains on this with weight 0,
    so it still joins the gradient all-reduce of the other processes."""
    noise = 0.01 * np.random.default_rng(0).standard_normal(int(seconds * collator.sampling_rate))
    return collator([{"crop": Crop(0, 0.0, seconds), "epoch": 0, "input_values": noise.astype(np.float32)}])


def masked_frames(batch: dict) -> int:
    return int(batch["mask_time_indices"].sum())


def accumulate_gradients(model, accelerator: Accelerator, window: list[dict], stand_in: dict, meter: CostMeter,
                         step: int, encoder_terms: FeatureEncoderTerms) -> torch.Tensor | None:
    """Forward and backward over one update's micro-batches; the gradients stay in the parameters.

    The model's loss is a sum over masked frames; dividing by the masked frames of every micro-batch
    on every process (times the processes, which DDP averages over) makes the gradient a mean over
    all masked frames, however the audio was split. What the window holds is known on the CPU before
    any forward pass (masked frames, audio seconds, batches): one copy to the device per update, no
    per-batch synchronisation. A process whose window held only bad audio joins the all-reduce with
    `stand_in` at weight 0.

    Returns this process's sums, in the order of UPDATE_SUMS; None when no process had a masked frame.
    """
    good = [b for b in window if b["num_samples"]]
    frames = [masked_frames(b) for b in good]
    window_data = torch.tensor([sum(frames), sum(b["audio_seconds"] for b in good), len(good)],
                               dtype=torch.float64, device=accelerator.device)
    total_masked = accelerator.reduce(window_data[:1].clone(), reduction="sum").item()
    if total_masked == 0:
        return None
    scale = accelerator.num_processes / total_masked
    model_stats = torch.zeros(5, dtype=torch.float64, device=accelerator.device)  # UPDATE_SUMS to feature_penalty
    passes = list(zip(good, frames)) or [(stand_in, 0)]
    for i, (micro_batch, batch_frames) in enumerate(passes):
        syncing = i == len(passes) - 1
        with contextlib.nullcontext() if syncing else accelerator.no_sync(model):
            with meter.counting_flops(step, micro_batch["audio_seconds"]):
                outputs = model(**model_inputs(micro_batch, accelerator.device))
                penalty = encoder_terms.penalty(batch_frames)
                loss = outputs.loss if penalty is None else outputs.loss + penalty
                accelerator.backward(loss * (scale if good else 0.0))
        if good:
            model_stats[:4] += torch.stack([outputs.loss, outputs.contrastive_loss, outputs.diversity_loss,
                                            outputs.codevector_perplexity]).detach().double()
            if penalty is not None:
                model_stats[4] += penalty.detach().double()
            meter.add_batch(micro_batch)
    return torch.cat([model_stats, window_data])


def planned_updates(args: PretrainingArguments, schedule: DurationSchedule, sampler: CropBatchSampler,
                    decode: CroppedAudio, collator: PretrainingCollator, model, device) -> int:
    """The run's length in updates: given, or bought by an audio-hours or FLOPs budget, or epochs."""
    if args.max_train_steps:
        return args.max_train_steps
    plans = {d: epoch_zero_plan(sampler, d) for d in schedule.durations}
    audio = {d: audio_per_update(batches, per_process, args.gradient_accumulation_steps)
             for d, (batches, per_process) in plans.items()}
    phases = list(zip(schedule.durations, schedule.shares))
    if args.max_train_audio_hours:
        return steps_for_budget(phases, args.max_train_audio_hours * 3600, audio.__getitem__)
    if args.max_train_flops:
        # The same first batch on every process, so every process buys the same number of updates.
        rate = {d: flops_per_audio_second(model, collator([decode[(crop, 0)] for crop in batches[0]]), device)
                for d, (batches, _) in plans.items()}
        return steps_for_budget(phases, args.max_train_flops, lambda d: audio[d] * rate[d])
    return math.ceil(args.num_train_epochs * sum(
        share * math.ceil(plans[d][1] / args.gradient_accumulation_steps) for d, share in phases))


def pretrain(model_args: ModelArguments, data_args: DataArguments, args: PretrainingArguments) -> Path:
    validate(model_args, data_args, args)
    output_dir = args.resolved_output_dir(data_args.max_duration)
    prepare_output_dir(output_dir, args)
    set_seed(args.seed)
    model, feature_extractor = load_model(model_args)
    encoder_terms = FeatureEncoderTerms(model, model_args.feature_grad_mult, model_args.feature_penalty_weight)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if args.torch_compile:
        # In place: parameter names, checkpoints, DDP and save_pretrained see the plain module.
        model.compile(backend=args.torch_compile_backend,
                      mode=None if args.torch_compile_backend != "inductor" else args.torch_compile_mode)
    config = model.config
    trackers = [t for t in args.report_to.split(",") if t and t != "none"]
    accelerator = Accelerator(mixed_precision=args.mixed_precision, log_with=trackers or None, project_dir=str(output_dir),
                              kwargs_handlers=[ddp_options(config), InitProcessGroupKwargs(timeout=timedelta(seconds=args.ddp_timeout))])
    check_processes_joined(accelerator)
    check_distributed_type(accelerator)
    if args.torch_compile and accelerator.state.dynamo_plugin.backend != DynamoBackend.NO:
        raise UsageError("the model would be compiled twice: by --torch_compile and by Accelerate's dynamo_backend "
                         f"({accelerator.state.dynamo_plugin.backend.value}). Keep --torch_compile and launch with "
                         "--dynamo_backend no.")
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    if not accelerator.is_main_process:
        logging.getLogger("hf_seqlen").setLevel(logging.WARNING)
    saves = SaveTriggers(args.save_steps, args.save_minutes, Preemption().install())
    # Before any heavy work: a missing token or an unusable repo name fails now, not after training.
    publisher = HubPublisher(args, output_dir, accelerator.is_main_process) if args.push_to_hub else None
    rate = feature_extractor.sampling_rate
    with accelerator.main_process_first():  # headers are read once, then the others hit the cache
        train_split, eval_split = load_splits(data_args, args.seed)
    logger.info("train: %s", train_split.selection.summary() if train_split else "streamed")
    logger.info("validation: %s", eval_split.selection.summary())
    if train_split and len(train_split.selection.kept_rows) == 0:
        raise UsageError(f"no usable training audio in {describe_source(data_args.dataset_name, data_args.data_dir)}: "
                         f"{train_split.selection.summary()}.")

    collator = PretrainingCollator(
        config, rate, feature_extractor.return_attention_mask, args.seed,
        model_args.mask_time_prob, model_args.mask_time_length,
    )
    check_min_duration(data_args.min_duration, collator, model_args.mask_time_length)
    decode = AudioDecoder.for_extractor(feature_extractor)
    if data_args.streaming:
        train_loader = train_sampler = streaming_batches(data_args, args, decode, collator, accelerator)
    else:
        train_loader, train_sampler = make_loader(train_split, data_args, args.per_device_train_batch_size,
                                                  args.max_batch_seconds, decode, collator, accelerator, args.seed,
                                                  data_args.crop_mode)
    # Validation crops are the same at every evaluation (epoch 0), so its losses are comparable.
    eval_loader, _ = make_loader(eval_split, data_args, args.per_device_eval_batch_size, None, decode, collator,
                                 accelerator, args.seed + 1, "random")

    # A single max_duration is a schedule of one phase.
    schedule = (DurationSchedule.parse(data_args.duration_schedule) if data_args.duration_schedule
                else DurationSchedule((data_args.max_duration,), (1.0,)))
    model.to(accelerator.device)  # a FLOPs budget is measured on the device that will train
    total_steps = planned_updates(args, schedule, train_sampler, train_loader.dataset, collator, model,
                                  accelerator.device)
    warmup_steps = args.warmup_steps if args.warmup_steps is not None else int(args.warmup_ratio * total_steps)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=args.learning_rate, betas=(args.adam_beta1, args.adam_beta2),
        eps=args.adam_epsilon, weight_decay=args.weight_decay, fused=args.optim == "adamw_torch_fused",
    )
    scheduler = get_scheduler(args.lr_scheduler_type, optimizer, warmup_steps, total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    unwrapped = accelerator.unwrap_model(model)

    run_config = without_secrets({**dataclasses.asdict(model_args), **dataclasses.asdict(data_args),
                                  **dataclasses.asdict(args), "output_dir": str(output_dir), "total_steps": total_steps,
                                  "num_processes": accelerator.num_processes})
    meter = CostMeter(accelerator, args.country_iso_code, args.energy_tracking_mode, args.flops_counted_steps,
                      args.flops_count_interval).start()
    run = RunState(num_processes=accelerator.num_processes)
    bad_audio: dict[str, str] = {**dict(train_split.selection.bad_audio if train_split else []),
                                 **dict(eval_split.selection.bad_audio)}
    checkpoint = resolve_checkpoint(args.resume_from_checkpoint, output_dir) if args.resume_from_checkpoint else None
    if checkpoint:
        progress = load_checkpoint(accelerator, checkpoint)
        run = RunState.saved_in(progress, accelerator.process_index)
        bad_audio.update(progress["bad_audio"])
        meter.load_state_dict(progress["costs"])
        if data_args.streaming:  # each process's workers have read the stream to their own positions
            train_sampler.load_state_dict(progress["stream_positions"][accelerator.process_index])
        logger.info("resumed from %s at step %d (epoch %d, batch %d)", checkpoint, run.step, run.epoch, run.batches_done)

    def note_bad_audio(batch: dict) -> None:
        """Files found bad when decoding: stop, or log each once and count it (--on_bad_audio)."""
        for name, reason in batch["bad_audio"]:
            if data_args.on_bad_audio == "error":
                raise BadAudioError(name, reason)
            if name not in bad_audio:
                logger.warning("skipping bad audio %s: %s", name, reason)
                bad_audio[name] = reason
    accelerator.init_trackers("hf_seqlen_pretrain", config={k: v for k, v in run_config.items()
                                                            if isinstance(v, (int, float, str, bool))})

    def merge_bad_audio() -> None:
        """Each process meets the bad files among its own crops; every process learns them all."""
        for found in gather_object([bad_audio]):
            bad_audio.update(found)

    def checkpoint_now() -> Path:
        merge_bad_audio()
        progress = {**dataclasses.asdict(run), "bad_audio": bad_audio, "costs": meter.state_dict(),
                    "process_positions": gather_object([{"epoch": run.epoch, "batches_done": run.batches_done}])}
        if data_args.streaming:
            progress["stream_positions"] = gather_object([train_sampler.state_dict()])
        return save_checkpoint(accelerator, output_dir, run.step, progress, args.save_total_limit)

    def write_release(eval_metrics: dict | None = None, final: bool = False) -> dict:
        """Model, costs.json and card into output_dir. Every process calls it: costs sum over all of them."""
        merge_bad_audio()
        costs = {**(meter.finish() if final else meter.report()), "bad_audio_files": len(bad_audio),
                 "nonfinite_updates_skipped": run.nonfinite_skipped}
        if accelerator.is_main_process:
            repo_id = publisher.repo_id if publisher else None
            save_release(output_dir, unwrapped, feature_extractor, run_config, costs, repo_id, eval_metrics)
        return costs

    logger.info("pre-training %d updates of %s crops <= %s (%d processes) into %s", total_steps, data_args.crop_mode,
                data_args.duration_schedule or f"{data_args.max_duration:g}s", accelerator.num_processes, output_dir)
    if checkpoint is None:
        # The same fixed validation crops before and after: the drop is what pre-training achieved.
        run.initial_eval = evaluate(model, eval_loader, accelerator, config.contrastive_logits_temperature,
                                    note_bad_audio)
        logger.info("validation before training: %s", run.initial_eval)
    bar = tqdm(total=total_steps, initial=run.step, disable=not accelerator.is_local_main_process,
               desc="pre-training")
    codebook_size = config.num_codevector_groups * config.num_codevectors_per_group
    interval_sums = IntervalSums(accelerator.device, meter.wall_clock_seconds())
    window: list[dict] = []  # the micro-batches of the next update
    stand_in = stand_in_batch(collator, data_args.min_duration)
    nonfinite = NonfiniteUpdates(args.max_consecutive_nonfinite, output_dir)
    collapse_warned = False

    while run.step < total_steps:
        train_sampler.max_duration = schedule.duration_at(run.step, total_steps)
        train_sampler.set_epoch(run.epoch, skip_batches=run.batches_done)
        for batch in train_loader:
            run.batches_done += 1
            note_bad_audio(batch)
            # Every process holds the same count of batches: counting batches, not good samples, keeps
            # the processes updating together even when a batch held only bad audio.
            window.append(batch)
            end_of_epoch = run.batches_done == train_sampler.batches_in_epoch
            if len(window) < args.gradient_accumulation_steps and not end_of_epoch:
                continue
            temperature = max(model_args.max_gumbel_temperature * model_args.gumbel_temperature_decay ** run.step,
                              model_args.min_gumbel_temperature)
            unwrapped.set_gumbel_temperature(temperature)
            update_sums = accumulate_gradients(model, accelerator, window, stand_in, meter, run.step, encoder_terms)
            window = []
            if update_sums is None:  # every batch of every process held only bad audio
                continue
            grad_norm = accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm or float("inf"))

            if not torch.isfinite(grad_norm):
                # Same decision on every process: the norm is of the all-reduced gradient.
                optimizer.zero_grad(set_to_none=True)
                run.nonfinite_skipped += 1
                if accelerator.scaler is not None:  # fp16: back off the loss scale as the scaler would
                    accelerator.scaler.update(accelerator.scaler.get_scale() / 2)
                nonfinite.skipped(run.step)
                continue
            nonfinite.passed()
            interval_sums.add(update_sums)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            run.step += 1
            meter.add_step()
            bar.update(1)

            step = run.step
            if step % args.logging_steps == 0 or step == total_steps:
                metrics = {**interval_sums.take(accelerator, meter.wall_clock_seconds()),
                           "gumbel_temperature": temperature, "learning_rate": scheduler.get_last_lr()[0],
                           "grad_norm": grad_norm.item(), "epoch": run.epoch}
                accelerator.log(metrics, step=step)
                bar.set_postfix(loss=f"{metrics['loss']:.3f}", ppl=f"{metrics['codevector_perplexity']:.1f}",
                                lr=f"{metrics['learning_rate']:.2e}")
                logger.info("step %d: %s", step, json.dumps({k: round(v, 5) for k, v in metrics.items()}))
                if (not collapse_warned and step > warmup_steps
                        and metrics["codevector_perplexity"] < PERPLEXITY_COLLAPSE_SHARE * codebook_size):
                    collapse_warned = True
                    logger.warning(
                        "codevector perplexity %.1f of %d codevectors: the codebook is collapsing. Try a larger "
                        "--diversity_loss_weight in the config, a lower --learning_rate or a slower gumbel decay.",
                        metrics["codevector_perplexity"], codebook_size)
            if args.eval_steps and step % args.eval_steps == 0 and step < total_steps:
                metrics = evaluate(model, eval_loader, accelerator, config.contrastive_logits_temperature, note_bad_audio)
                accelerator.log(metrics, step=step)
                logger.info("step %d: %s", step, metrics)
            if (save_reason := saves.due(step, accelerator)) and step < total_steps:
                checkpoint = checkpoint_now()
                if publisher and publisher.pushes_every_save:
                    write_release()
                    publisher.push(checkpoint, final=False)
                saves.exit_if_preempted(save_reason, accelerator, checkpoint)
            if step >= total_steps:
                break
            if schedule.duration_at(step, total_steps) != train_sampler.max_duration:
                logger.info("step %d: crops now <= %gs", step, schedule.duration_at(step, total_steps))
                run.start_epoch()  # a new length starts a new crop plan
                break
        else:
            run.start_epoch()

    bar.close()
    eval_metrics = evaluate(model, eval_loader, accelerator, config.contrastive_logits_temperature, note_bad_audio)
    accelerator.log(eval_metrics, step=run.step)
    logger.info("validation: %s", eval_metrics)
    checkpoint = checkpoint_now()
    initial = {f"initial_{name}": value for name, value in (run.initial_eval or {}).items()}
    costs = write_release({**eval_metrics, **initial}, final=True)
    if accelerator.is_main_process:
        logger.info("cost of this run (costs.json):\n%s", cost_table_text(costs))
        logger.info("done: model, feature extractor, costs.json and model card in %s", output_dir.resolve())
        if bad_audio:
            logger.info("%d bad audio files were skipped (listed in the log above)", len(bad_audio))
    del model, optimizer  # the DDP wrapper must go before the process group
    leave_process_group(accelerator)
    if publisher:
        publisher.push(checkpoint, final=True)
    return output_dir
