"""A pre-training run, built once from the options: what `loop.train` updates and `loop.finish` releases.

`build_run` checks the options and resolves them once (`args.resolve`: the run reads nothing else of them), loads
the model and the data, plans the run's length, prepares model and optimizer with Accelerate and, with
--resume_from_checkpoint, restores where a run stopped; then it makes the run, whole.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import (
    DistributedDataParallelKwargs,
    DistributedType,
    DynamoBackend,
    InitProcessGroupKwargs,
    gather_object,
    set_seed,
)
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForPreTraining, get_scheduler

from ..corpus.audio import AudioDecoder
from ..corpus.sources import CropBatchSampler, CroppedAudio, describe_source
from ..corpus.streaming import StreamingBatches
from ..costs.meter import CostMeter
from ..option_parsing import UsageError
from ..process_group import HostChannel, leave_process_group
from ..publishing.push import HubPublisher
from ..publishing.release import save_release, without_secrets
from .args import (
    DataArguments,
    ModelArguments,
    PretrainingArguments,
    ResolvedOptions,
    check_options,
    checked_objective_overrides,
    resolve,
)
from .budget import audio_per_update, epoch_zero_plan, flops_per_audio_second, steps_for_budget
from .checkpoints import load_checkpoint, resolve_checkpoint, save_checkpoint
from .collate import PretrainingCollator, shortest_maskable_seconds
from .feature_encoder_terms import FeatureEncoderTerms
from .loaders import Split, load_splits, loader_settings, make_loader, stand_in_batch, streaming_batches
from .preemption import Preemption, SaveTriggers
from .schedule import DurationSchedule
from .state import BadAudioLog, NonfiniteUpdates, RunState

logger = logging.getLogger("hf_seqlen.pretrain.loop")  # the loop's messages, under one name


@dataclass
class PretrainingRun:
    """What a run is made of: the options resolved once, the components built from them, and where the run is.
    `model` is the prepared (possibly DDP-wrapped) model, `unwrapped` the module inside it; `train_batches` is the
    sampler (or stream) whose epochs and crop length the loop sets."""

    # What the run was asked to do: all of the options it reads, and the length it planned from them.
    options: ResolvedOptions
    total_steps: int
    warmup_steps: int
    run_config: dict  # the options as the release records them
    # What it trains with.
    accelerator: Accelerator
    model: torch.nn.Module
    unwrapped: Wav2Vec2ForPreTraining
    feature_extractor: Wav2Vec2FeatureExtractor
    encoder_terms: FeatureEncoderTerms
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    train_loader: torch.utils.data.DataLoader | StreamingBatches
    train_batches: CropBatchSampler | StreamingBatches
    eval_loader: torch.utils.data.DataLoader
    stand_in: dict  # what a process trains on, with weight 0, when its micro-batches held only bad audio
    # What it measures, saves and publishes with.
    meter: CostMeter
    saves: SaveTriggers
    host: HostChannel  # what the processes agree on before each update, without waiting on the device
    publisher: HubPublisher | None
    # Where it is.
    state: RunState
    nonfinite: NonfiniteUpdates
    bad_audio: BadAudioLog
    resumed_from: Path | None = None
    codevector_perplexities: list[float] = field(default_factory=list)  # each log line's, for the health check

    @property
    def output_dir(self) -> Path:
        return self.options.output_dir

    @property
    def schedule(self) -> DurationSchedule:
        return self.options.schedule

    def drop_if_nonfinite(self, grad_norm: torch.Tensor) -> None:
        """Have the coming optimizer step drop this update's gradient if it is not finite. The fused AdamW does it
        on the device (`found_inf`, as GradScaler has it do); fp16's GradScaler does it itself; the foreach AdamW
        cannot, so the host looks at the norm, which waits for the device."""
        found = self.nonfinite.note(grad_norm)
        optimizer = self.optimizer.optimizer  # inside Accelerate's wrapper
        if self.accelerator.scaler is not None:
            return
        if optimizer.defaults.get("fused"):
            optimizer.found_inf = found
        elif found.item():
            self.optimizer.zero_grad(set_to_none=True)  # a step over no gradient changes nothing

    def checkpoint(self) -> Path:
        """Every process writes its part: state, bad audio, costs, each process's place in its data."""
        self.nonfinite.read(self.state.step)
        self.bad_audio.merge_processes()
        state = self.state
        progress = {
            **dataclasses.asdict(state),
            "nonfinite_skipped": self.nonfinite.skipped,
            "bad_audio": self.bad_audio.files,
            "costs": self.meter.state_dict(),
            "process_positions": gather_object([{"epoch": state.epoch, "batches_done": state.batches_done}]),
            # What a resume on another number of processes compares its own plan with.
            "gradient_accumulation_steps": self.options.gradient_accumulation_steps,
            "total_steps": self.total_steps,
        }
        if self.options.streaming:
            progress["stream_positions"] = gather_object([self.train_batches.state_dict()])
        return save_checkpoint(self.accelerator, self.output_dir, state.step, progress, self.options.save_total_limit)

    def write_release(self, eval_metrics: dict | None = None, final: bool = False, health: dict | None = None) -> dict:
        """Model, costs.json and card into output_dir. Every process calls it: costs sum over all of them.
        `health`: whether the finished run learned (run_health.py), kept in costs.json as `training_health`."""
        self.bad_audio.merge_processes()
        costs = {
            **(self.meter.finish() if final else self.meter.report()),
            "bad_audio_files": len(self.bad_audio),
            "nonfinite_updates_skipped": self.nonfinite.skipped,
        }
        if health is not None:
            costs["training_health"] = health
        if self.accelerator.is_main_process:
            save_release(
                self.output_dir,
                model=self.unwrapped,
                feature_extractor=self.feature_extractor,
                run_config=self.run_config,
                costs=costs,
                repo_id=self.publisher.repo_id if self.publisher else None,
                eval_metrics=eval_metrics,
            )
        return costs

    def leave_process_group(self) -> None:
        """The end of the run's processes: the prepared model and optimizer go first, since the DDP wrapper must go
        before the process group (`process_group.leave_process_group`). The run trains no more after this."""
        del self.model, self.optimizer
        leave_process_group(self.accelerator)


def load_model(model_args: ModelArguments) -> tuple[Wav2Vec2ForPreTraining, Wav2Vec2FeatureExtractor]:
    config_path = model_args.resolve_config_path()
    extractor_path = model_args.feature_extractor_name or model_args.model_name_or_path or config_path
    feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained(extractor_path, cache_dir=model_args.cache_dir)
    source = model_args.model_name_or_path or config_path
    config = Wav2Vec2Config.from_pretrained(
        source, cache_dir=model_args.cache_dir, attn_implementation=model_args.attn_implementation
    )
    config.update(checked_objective_overrides(model_args, config))  # the collator reads this config too
    if model_args.model_name_or_path:
        model = Wav2Vec2ForPreTraining.from_pretrained(
            source, config=config, cache_dir=model_args.cache_dir, attn_implementation=model_args.attn_implementation
        )
    else:
        model = Wav2Vec2ForPreTraining(config)
    # from_pretrained returns a model in eval mode: no dropout, no layerdrop, a hard argmax quantizer.
    # Everything that follows (a FLOPs budget's measurement, the first update) sees the training model.
    model.train()
    return model, feature_extractor


def prepare_model(
    model_args: ModelArguments, args: PretrainingArguments
) -> tuple[Wav2Vec2ForPreTraining, Wav2Vec2FeatureExtractor, FeatureEncoderTerms]:
    """The model as it trains: with the feature encoder's gradient factor and penalty, checkpointed or compiled."""
    model, feature_extractor = load_model(model_args)
    encoder_terms = FeatureEncoderTerms(model, model_args.feature_grad_mult, model_args.feature_penalty_weight)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if args.torch_compile:
        # In place: parameter names, checkpoints, DDP and save_pretrained see the plain module.
        mode = None if args.torch_compile_backend != "inductor" else args.torch_compile_mode
        model.compile(backend=args.torch_compile_backend, mode=mode)
    return model, feature_extractor, encoder_terms


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
            "--gradient_accumulation_steps if memory is short."
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


def make_accelerator(args: PretrainingArguments, options: ResolvedOptions, config: Wav2Vec2Config) -> Accelerator:
    """Accelerate as the options say, checked to be a setting the update supports."""
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision,
        log_with=list(options.trackers) or None,
        project_dir=str(options.output_dir),
        kwargs_handlers=[ddp_options(config), InitProcessGroupKwargs(timeout=timedelta(seconds=args.ddp_timeout))],
    )
    check_processes_joined(accelerator)
    check_distributed_type(accelerator)
    if accelerator.device.type == "cuda" and options.train_batch_plan.length_buckets:
        # Few input shapes: cuDNN's search for the fastest convolution of each pays back after the first batches.
        torch.backends.cudnn.benchmark = True
    if args.torch_compile and accelerator.state.dynamo_plugin.backend != DynamoBackend.NO:
        raise UsageError(
            "the model would be compiled twice: by --torch_compile and by Accelerate's dynamo_backend "
            f"({accelerator.state.dynamo_plugin.backend.value}). Keep --torch_compile and launch with "
            "--dynamo_backend no."
        )
    if not accelerator.is_main_process:
        logging.getLogger("hf_seqlen").setLevel(logging.WARNING)
    return accelerator


def prepare_output_dir(output_dir: Path, args: PretrainingArguments) -> None:
    if args.resume_from_checkpoint or args.overwrite_output_dir or not output_dir.exists():
        return
    if any(output_dir.iterdir()):
        raise UsageError(
            f"--output_dir {output_dir} is not empty. Resume with --resume_from_checkpoint latest, "
            "pass --overwrite_output_dir, or choose another folder."
        )


def check_min_duration(min_duration: float, collator: PretrainingCollator, mask_length_option: int | None) -> None:
    """--min_duration bounds the shortest crop, which must leave room to mask a span."""
    shortest = shortest_maskable_seconds(collator.config, collator.sampling_rate, collator.mask_length)
    if min_duration < shortest:
        source = "--mask_time_length" if mask_length_option else "the config's mask_time_length"
        raise UsageError(
            f"--min_duration {min_duration:g} s is too short to mask: a span of {collator.mask_length} frames "
            f"({source}) needs crops of at least {shortest:.3f} s. Use --min_duration "
            f"{math.ceil(shortest * 100) / 100:g} or more."
        )


def load_data(
    data_args: DataArguments, args: PretrainingArguments, options: ResolvedOptions, accelerator: Accelerator
) -> tuple[Split | None, Split]:
    with accelerator.main_process_first():  # headers are read once, then the others hit the cache
        train_split, eval_split = load_splits(data_args, options.validation_split, args.seed)
    logger.info("train: %s", train_split.selection.summary() if train_split else "streamed")
    logger.info("validation: %s", eval_split.selection.summary())
    if train_split and len(train_split.selection.kept_rows) == 0:
        raise UsageError(
            f"no usable training audio in {describe_source(data_args.dataset_name, data_args.data_dir)}: "
            f"{train_split.selection.summary()}."
        )
    return train_split, eval_split


def make_collator(
    model_args: ModelArguments,
    data_args: DataArguments,
    args: PretrainingArguments,
    config: Wav2Vec2Config,
    feature_extractor: Wav2Vec2FeatureExtractor,
) -> PretrainingCollator:
    """Pads, masks and draws negatives as the config and the --mask_time_* options say."""
    collator = PretrainingCollator(
        config,
        feature_extractor.sampling_rate,
        feature_extractor.return_attention_mask,
        args.seed,
        model_args.mask_time_prob,
        model_args.mask_time_length,
    )
    check_min_duration(data_args.min_duration, collator, model_args.mask_time_length)
    return collator


def make_loaders(
    data_args: DataArguments,
    options: ResolvedOptions,
    decoder: AudioDecoder,
    collator: PretrainingCollator,
    accelerator: Accelerator,
    splits: tuple[Split | None, Split],
) -> tuple:
    """The training loader with what batches it (a sampler, or the stream itself), and the validation loader.
    `splits`: train (None when streamed) and validation."""
    train_split, eval_split = splits
    settings = loader_settings(data_args, accelerator)
    if options.streaming:
        train_loader = train_batches = streaming_batches(
            data_args, options.train_batch_plan, decoder, collator, accelerator, settings
        )
    else:
        train_loader, train_batches = make_loader(
            train_split, options.train_batch_plan, decoder, collator, accelerator, settings
        )
    eval_loader, _ = make_loader(eval_split, options.eval_batch_plan, decoder, collator, accelerator, settings)
    return train_loader, train_batches, eval_loader


def planned_updates(
    args: PretrainingArguments,
    options: ResolvedOptions,
    sampler: CropBatchSampler,
    cropped: CroppedAudio,
    collator: PretrainingCollator,
    model,
    device,
) -> int:
    """The run's length in updates: given, or bought by an audio-hours or FLOPs budget, or epochs (a FLOPs budget
    measures the first batch of each crop length: `cropped` decodes it, `collator` batches it)."""
    if args.max_train_steps:
        return args.max_train_steps
    schedule, accumulated = options.schedule, options.gradient_accumulation_steps
    plans = {d: epoch_zero_plan(sampler, d) for d in schedule.durations}
    audio = {d: audio_per_update(batches, per_process, accumulated) for d, (batches, per_process) in plans.items()}
    phases = list(zip(schedule.durations, schedule.shares))
    if args.max_train_audio_hours:
        return steps_for_budget(phases, args.max_train_audio_hours * 3600, audio.__getitem__)
    if args.max_train_flops:
        # The same first batch on every process, so every process buys the same number of updates.
        rate = {
            d: flops_per_audio_second(model, collator([cropped[(crop, 0)] for crop in batches[0]]), device)
            for d, (batches, _) in plans.items()
        }
        return steps_for_budget(phases, args.max_train_flops, lambda d: audio[d] * rate[d])
    return math.ceil(args.num_train_epochs * sum(share * math.ceil(plans[d][1] / accumulated) for d, share in phases))


def make_optimizer(args: PretrainingArguments, model, total_steps: int):
    """AdamW and its learning-rate schedule: warm-up, then --lr_scheduler_type down to the last update."""
    warmup_steps = args.warmup_steps if args.warmup_steps is not None else int(args.warmup_ratio * total_steps)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=args.learning_rate,
        betas=(args.adam_beta1, args.adam_beta2),
        eps=args.adam_epsilon,
        weight_decay=args.weight_decay,
        fused=args.optim == "adamw_torch_fused",  # the default: it also drops a non-finite gradient on the device
    )
    return optimizer, get_scheduler(args.lr_scheduler_type, optimizer, warmup_steps, total_steps), warmup_steps


def start_meter(args: PretrainingArguments, accelerator: Accelerator) -> CostMeter:
    """The cost meter, counting from now: energy and CO2 as --energy_tracking_mode and --country_iso_code say, FLOPs
    on the updates --flops_counted_steps and --flops_count_interval name."""
    return CostMeter(
        accelerator,
        args.country_iso_code,
        args.energy_tracking_mode,
        args.flops_counted_steps,
        args.flops_count_interval,
    ).start()


def recorded_options(
    parsed: tuple[ModelArguments, DataArguments, PretrainingArguments],
    options: ResolvedOptions,
    total_steps: int,
    processes: int,
) -> dict:
    """The options as the release and the trackers record them, with the lengths the run resolved."""
    model_args, data_args, args = parsed
    resolved = {"max_duration": options.max_duration, "length_buckets": options.train_batch_plan.length_buckets}
    return without_secrets(
        {
            **dataclasses.asdict(model_args),
            **dataclasses.asdict(data_args),
            **resolved,
            **dataclasses.asdict(args),
            "output_dir": str(options.output_dir),
            "total_steps": total_steps,
            "num_processes": processes,
        }
    )


@dataclass
class Resumable:
    """What a checkpoint restores besides the prepared objects Accelerate loads: the components that keep their
    own part of it, and the run's length, which a resume on another number of processes compares."""

    accelerator: Accelerator
    options: ResolvedOptions
    total_steps: int
    train_batches: CropBatchSampler | StreamingBatches
    meter: CostMeter
    nonfinite: NonfiniteUpdates
    bad_audio: BadAudioLog


def starting_state(requested: str | None, parts: Resumable, seed: int) -> tuple[RunState, Path | None]:
    """Where the run starts, and the checkpoint it resumes from: --resume_from_checkpoint's, or none when it is not
    given or 'latest' finds none (the run then starts afresh)."""
    checkpoint = resolve_checkpoint(requested, parts.options.output_dir) if requested else None
    if checkpoint is None:
        return RunState(num_processes=parts.accelerator.num_processes), None
    return resume(checkpoint, parts, seed), checkpoint


def resume(checkpoint: Path, parts: Resumable, seed: int) -> RunState:
    """Back to where --resume_from_checkpoint's run stopped: weights, optimizer, RNG, costs, data, and the state it
    goes on from. A checkpoint of another number of processes resumes at the same place in the epoch's crop plan."""
    accelerator = parts.accelerator
    progress = load_checkpoint(accelerator, checkpoint)
    if progress.get("num_processes", 1) == accelerator.num_processes:
        state = RunState.saved_in(progress, accelerator.process_index)
        if parts.options.streaming:  # each process's workers have read the stream to their own positions
            parts.train_batches.load_state_dict(progress["stream_positions"][accelerator.process_index])
    else:
        state = state_on_other_processes(parts, progress, checkpoint, seed)
    parts.nonfinite.skipped = progress.get("nonfinite_skipped", 0)
    parts.bad_audio.add(progress["bad_audio"])
    parts.meter.load_state_dict(progress["costs"])
    logger.info(
        "resumed from %s at step %d (epoch %d, batch %d)", checkpoint, state.step, state.epoch, state.batches_done
    )
    return state


def state_on_other_processes(parts: Resumable, progress: dict, checkpoint: Path, seed: int) -> RunState:
    """The checkpoint's place for this launch's number of processes, said in the log. Map-style data goes on at
    the same global batch of the epoch (`RunState.on_processes`). A stream cannot: each process had read its own
    part of it, which another count splits differently, so the run starts the stream's next epoch. The random
    states belonged to the old processes: every process is seeded from --seed, the step and its index."""
    now = parts.accelerator.num_processes
    state = RunState.saved_in(progress)  # with map-style data every process is at the first one's place
    saved_by = state.num_processes
    if parts.options.streaming:
        state.epoch = max((p["epoch"] for p in progress.get("process_positions", [])), default=state.epoch)
        state.start_epoch()
        state.num_processes = now
        place = (
            f"with --streaming each process had read its own part of the stream, so the place in it is not kept: "
            f"the run goes on with the stream's next epoch (epoch {state.epoch}), reshuffled, and files of the "
            "interrupted epoch may be read again or not at all. Weights, optimizer, schedules, step and costs are kept"
        )
    else:
        state.on_processes(now)
        place = (
            f"the epoch goes on after the first {state.batches_done * now} batches of its crop plan "
            f"({state.batches_done} on each process), dealt out anew; fewer than one batch per process is left out"
        )
    set_seed(seed + state.step, device_specific=True)
    if parts.accelerator.is_main_process:
        logger.warning(
            "processes changed from %d to %d since %s: %s.%s",
            saved_by,
            now,
            checkpoint.name,
            place,
            changed_update_size(parts, progress, saved_by),
        )
    return state


def changed_update_size(parts: Resumable, progress: dict, saved_by: int) -> str:
    """What another number of processes changes in an update and the run's length, and how to keep both."""
    now, accumulated = parts.accelerator.num_processes, parts.options.gradient_accumulation_steps
    said = ""
    held = saved_by * progress.get("gradient_accumulation_steps", accumulated)
    if held != now * accumulated:
        keep = f" (--gradient_accumulation_steps {held // now} keeps {held})" if held % now == 0 else ""
        said += f" An update's batches over all processes: {held} before, {now * accumulated} now{keep}."
    planned, total_steps = progress.get("total_steps", parts.total_steps), parts.total_steps
    if planned != total_steps:
        said += (
            f" The run planned {planned} updates and now plans {total_steps}, counting updates of the new size "
            f"(--max_train_steps {planned} keeps the planned learning-rate and crop-length schedules)."
        )
    return said


def build_run(model_args: ModelArguments, data_args: DataArguments, args: PretrainingArguments) -> PretrainingRun:
    """Everything a run is made of, checked, loaded and prepared, in an order that keeps runs repeatable. The
    options are resolved once; past that, the run reads nothing else of them."""
    check_options(model_args, data_args, args)
    options = resolve(model_args, data_args, args)
    prepare_output_dir(options.output_dir, args)
    set_seed(args.seed)
    model, feature_extractor, encoder_terms = prepare_model(model_args, args)
    config = model.config
    accelerator = make_accelerator(args, options, config)
    saves = SaveTriggers(args.save_steps, args.save_minutes, Preemption().install())
    # Before any heavy work: a missing token or an unusable repo name fails now, not after training.
    publisher = HubPublisher(args, options.output_dir, accelerator.is_main_process) if args.push_to_hub else None
    splits = load_data(data_args, args, options, accelerator)

    collator = make_collator(model_args, data_args, args, config, feature_extractor)
    decoder = AudioDecoder.for_extractor(feature_extractor)
    train_loader, train_batches, eval_loader = make_loaders(
        data_args, options, decoder=decoder, collator=collator, accelerator=accelerator, splits=splits
    )

    model.to(accelerator.device)  # a FLOPs budget is measured on the device that will train
    total_steps = planned_updates(
        args,
        options,
        sampler=train_batches,
        cropped=train_loader.dataset,
        collator=collator,
        model=model,
        device=accelerator.device,
    )
    optimizer, scheduler, warmup_steps = make_optimizer(args, model, total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    meter = start_meter(args, accelerator)
    # Before a resume restores the random states: the stand-in batch and the host's process group come first.
    stand_in, host = stand_in_batch(collator, data_args.min_duration), HostChannel(accelerator)
    nonfinite = NonfiniteUpdates(args.max_consecutive_nonfinite, options.output_dir, accelerator.device)
    bad_audio = BadAudioLog(data_args.on_bad_audio, found_bad_audio(*splits))
    resumable = Resumable(
        accelerator=accelerator,
        options=options,
        total_steps=total_steps,
        train_batches=train_batches,
        meter=meter,
        nonfinite=nonfinite,
        bad_audio=bad_audio,
    )
    state, checkpoint = starting_state(args.resume_from_checkpoint, resumable, args.seed)
    run_config = recorded_options((model_args, data_args, args), options, total_steps, accelerator.num_processes)
    accelerator.init_trackers(
        "hf_seqlen_pretrain", config={k: v for k, v in run_config.items() if isinstance(v, (int, float, str, bool))}
    )
    return PretrainingRun(
        options=options,
        total_steps=total_steps,
        warmup_steps=warmup_steps,
        run_config=run_config,
        accelerator=accelerator,
        model=model,
        unwrapped=accelerator.unwrap_model(model),
        feature_extractor=feature_extractor,
        encoder_terms=encoder_terms,
        optimizer=optimizer,
        scheduler=scheduler,
        train_loader=train_loader,
        train_batches=train_batches,
        eval_loader=eval_loader,
        stand_in=stand_in,
        meter=meter,
        saves=saves,
        host=host,
        publisher=publisher,
        state=state,
        nonfinite=nonfinite,
        bad_audio=bad_audio,
        resumed_from=checkpoint,
    )


def found_bad_audio(train_split: Split | None, eval_split: Split) -> dict[str, str]:
    """The bad files the splits' selection found, by name with the reason."""
    return {**dict(train_split.selection.bad_audio if train_split else []), **dict(eval_split.selection.bad_audio)}
