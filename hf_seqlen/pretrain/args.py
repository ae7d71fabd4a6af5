"""Arguments of run_pretrain.py, as `HfArgumentParser` dataclasses (command line, JSON or YAML).

Names follow the transformers example scripts wherever a meaning exists there. `check_options` checks them and
changes nothing; `resolve` turns them once into what a run is built from (`ResolvedOptions`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from huggingface_hub import constants
from transformers.utils import cached_file

from ..corpus.sources import BatchPlan, split_names
from ..costs.meter import COUNTRY_ISO_CODE_HELP, country_problem
from ..option_parsing import UsageError, parse_dataclasses
from ..publishing.release import DEFAULT_LICENSE
from .schedule import DurationSchedule, GumbelTemperature

HUB_CONFIGS = Path(__file__).resolve().parents[1] / "hub_configs"  # package data: installed with the code
# Crop lengths a compiled run snaps to by default: few shapes to compile, at most 1/8 of a crop left out.
COMPILE_LENGTH_BUCKETS = 8


# ModelArguments that replace the config value of the same name (the collator reads num_negatives from it too).
OBJECTIVE_OPTIONS = (
    "diversity_loss_weight",
    "num_negatives",
    "contrastive_logits_temperature",
    "num_codevector_groups",
    "num_codevectors_per_group",
)
CODEBOOK_OPTIONS = ("num_codevector_groups", "num_codevectors_per_group")


@dataclass
class ModelArguments:
    _argument_group_name = "model arguments"

    config_name: str = field(
        default="wav2vec2-tiny",
        metadata={
            "help": "Model config to pre-train from scratch: a name in hub_configs/ (wav2vec2-tiny, -small, "
            "-base, -large), a local folder holding config.json, or a Hub id."
        },
    )
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Continue pre-training these weights (local folder or Hub id)."}
    )
    feature_extractor_name: str | None = field(
        default=None, metadata={"help": "Feature extractor; default: the one beside the config."}
    )
    cache_dir: str | None = field(default=None, metadata={"help": "Where Hub downloads are cached."})
    max_gumbel_temperature: float = field(default=2.0, metadata={"help": "Gumbel-softmax temperature at step 0."})
    min_gumbel_temperature: float = field(default=0.5, metadata={"help": "Floor of the gumbel temperature."})
    gumbel_temperature_decay: float = field(
        default=0.999995, metadata={"help": "Temperature factor per update: max(max * decay**step, min)."}
    )
    mask_time_prob: float | None = field(default=None, metadata={"help": "Override the config's mask_time_prob."})
    mask_time_length: int | None = field(default=None, metadata={"help": "Override the config's mask_time_length."})
    diversity_loss_weight: float | None = field(
        default=None,
        metadata={
            "help": "Override the config's diversity_loss_weight, the weight of the term that keeps every codevector "
            "in use: raise it when the log warns that the codebook is collapsing."
        },
    )
    num_negatives: int | None = field(
        default=None,
        metadata={"help": "Override the config's num_negatives: distractors per masked frame in the contrastive loss."},
    )
    contrastive_logits_temperature: float | None = field(
        default=None,
        metadata={"help": "Override the config's contrastive_logits_temperature (the published recipe: 0.1)."},
    )
    num_codevector_groups: int | None = field(
        default=None,
        metadata={
            "help": "Override the config's num_codevector_groups (codebooks of the quantizer); must divide the "
            "config's codevector_dim. From scratch only: a checkpoint's codebook keeps its size."
        },
    )
    num_codevectors_per_group: int | None = field(
        default=None,
        metadata={"help": "Override the config's num_codevectors_per_group (entries per codebook). From scratch only."},
    )
    feature_grad_mult: float = field(
        default=1.0,
        metadata={
            "help": "Multiply the feature encoder's gradient by this (fairseq's recipe: 0.1; "
            "transformers' example: 1.0). docs/pretraining-objective.md."
        },
    )
    feature_penalty_weight: float = field(
        default=0.0,
        metadata={
            "help": "Weight of the L2 penalty on the feature encoder's output (fairseq's recipe: "
            "10; transformers' example: 0). docs/pretraining-objective.md."
        },
    )
    attn_implementation: str | None = field(
        default=None,
        metadata={
            "help": "Attention kernel: sdpa (transformers' default: flash or memory-efficient kernels on a GPU), "
            "eager, or flash_attention_2 (needs the flash-attn package).",
            "choices": [None, "sdpa", "eager", "flash_attention_2"],
        },
    )

    def objective_overrides(self) -> dict:
        """The objective options given, as the config values they replace."""
        return {name: getattr(self, name) for name in OBJECTIVE_OPTIONS if getattr(self, name) is not None}

    def resolve_config_path(self) -> str:
        """A bare name of a hub_configs/ folder maps to that folder; anything else is used as is."""
        bundled = HUB_CONFIGS / self.config_name
        return str(bundled) if bundled.is_dir() else self.config_name


@dataclass
class DataArguments:
    _argument_group_name = "data arguments"

    max_duration: float = field(
        default=2.0,
        metadata={"help": "Longest training sequence in seconds: longer utterances are cropped to this."},
    )
    duration_schedule: str | None = field(
        default=None,
        metadata={
            "help": "A length curriculum instead of one max_duration: 'seconds:share,...' with shares of "
            "the updates, e.g. '1:0.5,2:0.3,8:0.2' (1 s crops for the first half, ...)."
        },
    )
    crop_mode: str = field(
        default="random",
        metadata={
            "help": "random: one window of max_duration per utterance, at a new offset every epoch. "
            "chunk: every consecutive max_duration segment is a sample (no audio is thrown away).",
            "choices": ["random", "chunk"],
        },
    )
    min_duration: float = field(
        default=0.5,
        metadata={
            "help": "Utterances (and last chunks) shorter than this many seconds are dropped; at least "
            "the length that holds one masked span (0.205 s for mask_time_length 10 at 16 kHz)."
        },
    )
    dataset_name: str | None = field(default=None, metadata={"help": "Hub dataset, e.g. librispeech_asr."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Its config, e.g. clean."})
    data_dir: str | None = field(
        default=None,
        metadata={"help": "Local audio folder (audiofolder layout, metadata.csv optional). Default: the demo corpus."},
    )
    train_split_name: list[str] = field(
        default_factory=lambda: ["train"], metadata={"help": "One or more training splits, concatenated."}
    )
    validation_split_name: str | None = field(
        default=None,
        metadata={"help": "Validation split; default: 'validation' when the source has one, else a held-out share."},
    )
    validation_split_percentage: float = field(
        default=5.0, metadata={"help": "Share of training files held out when there is no validation split."}
    )
    audio_column_name: str = field(default="audio", metadata={"help": "Column that holds the audio."})
    streaming: bool = field(
        default=False,
        metadata={
            "help": "Stream the training split instead of downloading it first (needs --max_train_steps and "
            "a validation split); batches by count, in stream order."
        },
    )
    on_bad_audio: str = field(
        default="skip",
        metadata={
            "help": "skip: log each unreadable, empty, truncated or non-finite file once and count it. "
            "error: stop at the first one, naming it.",
            "choices": ["skip", "error"],
        },
    )
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes that read audio headers."})
    dataloader_num_workers: int | None = field(
        default=None,
        metadata={
            "help": "DataLoader workers that decode crops. Default: none on a CPU (they would take cores from the "
            "model); on a GPU, 4 (fewer if the process has fewer spare CPU cores): decoding in the training process "
            "left an H200 waiting for data 18.7%% of each step, 4 workers 1.8%% (benchmarks/RESULTS.md)."
        },
    )
    dataloader_prefetch_factor: int | None = field(
        default=None, metadata={"help": "Batches each worker prepares ahead (torch's default: 2)."}
    )
    dataloader_persistent_workers: bool = field(
        default=False,
        metadata={
            "help": "Keep workers alive between epochs instead of starting them anew (not with --streaming, "
            "whose epoch lives in the workers)."
        },
    )
    dataloader_pin_memory: bool = field(
        default=True, metadata={"help": "Pinned host memory for batches, so copies to a GPU overlap compute."}
    )
    max_eval_samples: int = field(
        default=64,
        metadata={
            "help": "Cap on validation files: a larger validation split, or held-out share, is a seeded random "
            "sample of this many (0: no cap). Validation runs before the first update and at the end, "
            "so the cap keeps its cost the same whatever the corpus's size."
        },
    )
    length_buckets: int | None = field(
        default=None,
        metadata={
            "help": "Snap each crop down to one of N lengths (max_duration * k/N, and min_duration), so "
            "batches take at most N shapes (a compiled model with CUDA graphs records each once). A "
            "crop of a short utterance loses up to max_duration/N seconds (another window each epoch). "
            f"Default: {COMPILE_LENGTH_BUCKETS} with --torch_compile, else 0 (off)."
        },
    )


@dataclass
class PretrainingArguments:
    _argument_group_name = "training arguments"

    output_dir: str | None = field(
        default=None, metadata={"help": "Where checkpoints and the model go; default outputs/wav2vec2-pretrain-<d>s."}
    )
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Train into a non-empty output_dir."})
    per_device_train_batch_size: int = field(default=8, metadata={"help": "Crops per batch and process."})
    per_device_eval_batch_size: int = field(default=8, metadata={"help": "Crops per validation batch."})
    max_batch_seconds: float | None = field(
        default=None,
        metadata={"help": "Batch by total padded audio seconds per process instead of a count of crops."},
    )
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Batches per optimizer update."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Peak learning rate (the BASE recipe uses 5e-4)."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    adam_beta1: float = field(default=0.9)
    adam_beta2: float = field(default=0.98)
    adam_epsilon: float = field(default=1e-6)
    optim: str = field(
        default="adamw_torch_fused",
        metadata={
            "help": "adamw_torch_fused: one fused kernel for the whole update, which drops a non-finite gradient on "
            "the device; or adamw_torch (foreach), whose non-finite check makes the host wait for the device.",
            "choices": ["adamw_torch", "adamw_torch_fused"],
        },
    )
    gradient_checkpointing: bool = field(
        default=False,
        metadata={
            "help": "Recompute encoder activations in the backward pass: less memory, about a third more compute."
        },
    )
    torch_compile: bool = field(
        default=False,
        metadata={
            "help": "torch.compile the model (in place: checkpoints keep their names): fused kernels, after "
            "compiling in the first steps. Crops snap to --length_buckets lengths."
        },
    )
    torch_compile_backend: str = field(
        default="inductor",
        metadata={
            "help": "torch.compile backend: inductor (fused kernels), or aot_eager and eager to find what "
            "breaks a compiled run without compiling kernels."
        },
    )
    torch_compile_mode: str = field(
        default="default",
        metadata={
            "help": "torch.compile mode: default, reduce-overhead (CUDA graphs, one per length), max-autotune, "
            "or max-autotune-no-cudagraphs.",
            "choices": ["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"],
        },
    )
    max_grad_norm: float = field(default=10.0, metadata={"help": "Gradient clipping norm (0: off)."})
    lr_scheduler_type: str = field(default="linear", metadata={"help": "Schedule after warm-up (transformers names)."})
    warmup_ratio: float = field(default=0.08, metadata={"help": "Share of updates spent warming up."})
    warmup_steps: int | None = field(default=None, metadata={"help": "Warm-up updates; overrides warmup_ratio."})
    max_train_steps: int | None = field(default=None, metadata={"help": "Updates to run; overrides num_train_epochs."})
    max_train_audio_hours: float | None = field(
        default=None, metadata={"help": "Budget in hours of (cropped) audio fed; converted to updates before training."}
    )
    max_train_flops: float | None = field(
        default=None, metadata={"help": "Budget in training FLOPs (e.g. 1e15); converted to updates before training."}
    )
    num_train_epochs: float = field(default=10.0, metadata={"help": "Passes over the training files."})
    logging_steps: int = field(default=10, metadata={"help": "Log every N updates."})
    eval_steps: int | None = field(default=None, metadata={"help": "Validate every N updates (default: at the end)."})
    save_steps: int | None = field(default=None, metadata={"help": "Checkpoint every N updates (default: at the end)."})
    save_minutes: float | None = field(
        default=None, metadata={"help": "Also checkpoint every M minutes of wall time (with or without --save_steps)."}
    )
    save_total_limit: int = field(
        default=3,
        metadata={
            "help": "Keep only the newest N checkpoints; 0 keeps all. Three leave two to fall back on if "
            "the newest is damaged."
        },
    )
    ddp_timeout: int = field(
        default=1800,
        metadata={
            "help": "Seconds a process waits in a collective for the others before it gives up (a machine "
            "lost without a word); above the longest checkpoint save."
        },
    )
    resume_from_checkpoint: str | None = field(
        default=None, metadata={"help": "A checkpoint folder, or 'latest' for the newest complete one in output_dir."}
    )
    max_consecutive_nonfinite: int = field(
        default=20, metadata={"help": "Stop after this many updates in a row with a non-finite loss or gradient."}
    )
    seed: int = field(default=42, metadata={"help": "Seeds initialisation, crops, masks and negatives."})
    mixed_precision: str | None = field(
        default=None,
        metadata={
            "help": "no, fp16 or bf16; default: what `accelerate launch` or its config says.",
            "choices": [None, "no", "fp16", "bf16"],
        },
    )
    report_to: str = field(
        default="none", metadata={"help": "Trackers: none, all, tensorboard, wandb, ... (comma-separated)."}
    )
    country_iso_code: str = field(default="USA", metadata={"help": COUNTRY_ISO_CODE_HELP})
    energy_tracking_mode: str = field(
        default="machine",
        metadata={
            "help": "machine: one codecarbon tracker per machine measures all of it (dedicated machines). "
            "process: each process measures only itself (shared machines).",
            "choices": ["machine", "process"],
        },
    )
    flops_counted_steps: int = field(
        default=3, metadata={"help": "Count FLOPs (FlopCounterMode) on the first N updates; the total is extrapolated."}
    )
    flops_count_interval: int = field(
        default=1000, metadata={"help": "Also count FLOPs on every N-th update, so the estimate follows the data."}
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Publish the model, costs.json and card to the Hub."})
    hub_model_id: str | None = field(
        default=None, metadata={"help": "Repo to push to (user/name or name); default: the output_dir's name."}
    )
    hub_private_repo: bool | None = field(default=None, metadata={"help": "Create the repo private."})
    hub_token: str | None = field(
        default=None, metadata={"help": "Token to push with; default: HF_TOKEN or the stored login."}
    )
    hub_strategy: str = field(
        default="every_save",
        metadata={
            "help": "end: push when training ends. every_save: also at each checkpoint. checkpoint: also the "
            "newest checkpoint as last-checkpoint/.",
            "choices": ["end", "every_save", "checkpoint"],
        },
    )
    license: str = field(
        default=DEFAULT_LICENSE,
        metadata={
            "help": "License of the weights, written in the model card: a Hub license id (apache-2.0, mit, "
            "cc-by-4.0, ...). Choose one your training data allows."
        },
    )


ARGUMENT_CLASSES = (ModelArguments, DataArguments, PretrainingArguments)


def parse_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, PretrainingArguments]:
    """From the command line and its --config file (or one .json / .yaml file given alone)."""
    return parse_dataclasses(ARGUMENT_CLASSES, argv)


def check_hub_ids_offline(model: ModelArguments, data: DataArguments) -> None:
    """With HF_HUB_OFFLINE=1 a Hub id works only from the local cache: find out now, not after loading."""
    if not constants.HF_HUB_OFFLINE:
        return
    hint = "it is not in the local cache and HF_HUB_OFFLINE=1 forbids downloading it. Run once online to cache it, "
    for option, repo_id in (
        ("--config_name", model.resolve_config_path()),
        ("--model_name_or_path", model.model_name_or_path),
    ):
        if repo_id and not Path(repo_id).is_dir():
            try:
                cached_file(repo_id, "config.json", cache_dir=model.cache_dir, local_files_only=True)
            except OSError:
                raise UsageError(f"{option} {repo_id}: {hint}or give a local folder.") from None
    if data.dataset_name and not Path(data.dataset_name).exists():
        try:
            datasets.load_dataset_builder(data.dataset_name, data.dataset_config_name, cache_dir=model.cache_dir)
        except (ConnectionError, OSError, ValueError):
            raise UsageError(
                f"--dataset_name {data.dataset_name}: {hint}or use --data_dir with a local folder."
            ) from None


def validation_split(data: DataArguments) -> str | None:
    """--validation_split_name, else the source's 'validation' split if it has one; None: a share of train is
    held out."""
    if data.validation_split_name is not None:
        return data.validation_split_name
    has_one = "validation" in split_names(data.dataset_name, data.dataset_config_name, data.data_dir)
    return "validation" if has_one else None


def check_streaming(data: DataArguments, train: PretrainingArguments, check_sources: bool = True) -> None:
    """What --streaming needs of the other options. check_sources=False leaves out whether the source has a
    validation split."""
    if not data.streaming:
        return
    if not train.max_train_steps:
        raise UsageError("--streaming: a stream has no known length, so give the budget as --max_train_steps.")
    if len(data.train_split_name) > 1:
        raise UsageError("--streaming takes one --train_split_name.")
    if data.dataloader_persistent_workers:
        raise UsageError(
            "--dataloader_persistent_workers does not work with --streaming: each epoch reshuffles the "
            "stream inside its workers, so they must start anew. Leave it out."
        )
    if check_sources and not validation_split(data):
        raise UsageError("--streaming: no share of a stream can be held out; name a --validation_split_name.")


def check_lengths(data: DataArguments, train: PretrainingArguments) -> None:
    """Crop lengths: each must be long enough to keep, and a full-length crop must fit in a batch."""
    schedule = DurationSchedule.parse(data.duration_schedule) if data.duration_schedule else None
    if schedule and data.min_duration > min(schedule.durations):
        raise UsageError(
            f"--min_duration ({data.min_duration}) is longer than the shortest length of "
            f"--duration_schedule ({min(schedule.durations):g}). Lower --min_duration."
        )
    # A schedule's longest length is checked as a plain --max_duration would be, and named as one.
    longest = schedule.longest if schedule else data.max_duration
    if longest <= 0:
        raise UsageError(f"--max_duration must be > 0 seconds (got {longest}).")
    if data.min_duration > longest:
        raise UsageError(
            f"--min_duration ({data.min_duration}) is longer than --max_duration ({longest}): "
            "no crop could be kept. Lower --min_duration."
        )
    if train.max_batch_seconds is not None and train.max_batch_seconds < longest:
        raise UsageError(
            f"--max_batch_seconds ({train.max_batch_seconds}) is below --max_duration ({longest}): "
            "a full-length crop would not fit in a batch. Raise it to at least the max duration."
        )
    if data.length_buckets is not None and data.length_buckets < 0:
        raise UsageError(f"--length_buckets must be >= 0 (got {data.length_buckets}); 0 turns bucketing off.")


def check_budget(train: PretrainingArguments) -> None:
    budgets = [train.max_train_steps, train.max_train_audio_hours, train.max_train_flops]
    if sum(b is not None for b in budgets) > 1:
        raise UsageError("give one budget: --max_train_steps, --max_train_audio_hours or --max_train_flops.")
    if any(b is not None and b <= 0 for b in budgets):
        raise UsageError(
            "the training budget (--max_train_steps, --max_train_audio_hours, --max_train_flops) must be > 0."
        )


def check_sources_named(model: ModelArguments, data: DataArguments, check_sources: bool) -> None:
    """The data and the model config: one source each, and a local one that exists."""
    if data.dataset_name and data.data_dir:
        raise UsageError("give --dataset_name (a Hub dataset) or --data_dir (a local folder), not both.")
    if check_sources and data.data_dir and not Path(data.data_dir).is_dir():
        raise UsageError(f"--data_dir {data.data_dir}: no such directory.")
    config_path = Path(model.resolve_config_path())
    looks_local = model.config_name.startswith((".", "/", "~")) or config_path.exists()
    if looks_local and not (config_path / "config.json").is_file():
        raise UsageError(
            f"--config_name {model.config_name}: no config.json there. Use one of "
            f"{', '.join(sorted(p.name for p in HUB_CONFIGS.iterdir() if p.is_dir()))}, a folder with "
            "config.json, or a Hub id."
        )


def check_objective(model: ModelArguments) -> None:
    """Values of the objective options that no config could train with."""
    if model.diversity_loss_weight is not None and model.diversity_loss_weight < 0:
        raise UsageError(
            f"--diversity_loss_weight must be >= 0 (got {model.diversity_loss_weight}); the recipe uses 0.1."
        )
    if model.contrastive_logits_temperature is not None and model.contrastive_logits_temperature <= 0:
        raise UsageError(
            f"--contrastive_logits_temperature must be > 0 (got {model.contrastive_logits_temperature}); "
            "the recipe uses 0.1."
        )
    if model.num_negatives is not None and model.num_negatives < 1:
        raise UsageError(f"--num_negatives must be >= 1 (got {model.num_negatives}); the recipe uses 100.")
    if model.num_codevector_groups is not None and model.num_codevector_groups < 1:
        raise UsageError(f"--num_codevector_groups must be >= 1 (got {model.num_codevector_groups}).")
    if model.num_codevectors_per_group is not None and model.num_codevectors_per_group < 2:
        raise UsageError(
            f"--num_codevectors_per_group must be >= 2 (got {model.num_codevectors_per_group}): a codebook of one "
            "entry quantizes every frame alike."
        )


def checked_objective_overrides(model: ModelArguments, config) -> dict:
    """The objective options as config values, checked against the config they change (`config`: the one
    --config_name or --model_name_or_path names, before the overrides)."""
    overrides = model.objective_overrides()
    groups = overrides.get("num_codevector_groups")
    if groups and config.codevector_dim % groups:
        divisors = [n for n in range(1, config.codevector_dim + 1) if config.codevector_dim % n == 0]
        raise UsageError(
            f"--num_codevector_groups {groups} does not divide the config's codevector_dim "
            f"({config.codevector_dim}), which the groups share equally. Use one of {divisors[:8]}."
        )
    changed = [name for name in CODEBOOK_OPTIONS if name in overrides and overrides[name] != getattr(config, name)]
    if model.model_name_or_path and changed:
        raise UsageError(
            f"--{changed[0]} would resize the codebook of --model_name_or_path {model.model_name_or_path} "
            f"({config.num_codevector_groups} groups of {config.num_codevectors_per_group}), whose trained weights "
            "have that size. Leave it out to continue with that codebook, or pre-train from scratch (--config_name)."
        )
    return overrides


def check_training(train: PretrainingArguments) -> None:
    """The update, compiling, cost accounting and checkpoints."""
    if (train.torch_compile_mode != "default" or train.torch_compile_backend != "inductor") and not train.torch_compile:
        raise UsageError("--torch_compile_mode and --torch_compile_backend need --torch_compile.")
    if train.gradient_accumulation_steps < 1 or train.per_device_train_batch_size < 1:
        raise UsageError("--gradient_accumulation_steps and --per_device_train_batch_size must be >= 1.")
    if train.max_consecutive_nonfinite < 1:
        raise UsageError("--max_consecutive_nonfinite must be >= 1.")
    if problem := country_problem(train.country_iso_code):
        raise UsageError(problem)
    if train.flops_counted_steps < 1 or train.flops_count_interval < 1:
        raise UsageError(
            "--flops_counted_steps and --flops_count_interval must be >= 1: FLOPs are counted, not guessed."
        )
    if train.save_minutes is not None and train.save_minutes <= 0:
        raise UsageError(f"--save_minutes must be > 0 (got {train.save_minutes}); leave it out to save by steps only.")
    if train.save_total_limit < 0:
        raise UsageError(f"--save_total_limit must be >= 0 (got {train.save_total_limit}); 0 keeps every checkpoint.")
    if train.ddp_timeout <= 0:
        raise UsageError(f"--ddp_timeout must be > 0 seconds (got {train.ddp_timeout}).")


def check_options(
    model: ModelArguments, data: DataArguments, train: PretrainingArguments, check_sources: bool = True
) -> None:
    """Catch argument mistakes in seconds, before data or models load; nothing is changed. check_sources=False
    leaves out what needs the data or the Hub (a sweep's plan is checked where neither may be)."""
    check_lengths(data, train)
    if model.feature_grad_mult < 0 or model.feature_penalty_weight < 0:
        raise UsageError(
            f"--feature_grad_mult and --feature_penalty_weight must be >= 0 (got "
            f"{model.feature_grad_mult} and {model.feature_penalty_weight}); fairseq uses 0.1 and 10."
        )
    check_objective(model)
    check_budget(train)
    if data.max_eval_samples < 0:
        raise UsageError(f"--max_eval_samples must be >= 0, 0 for no cap (got {data.max_eval_samples}).")
    check_sources_named(model, data, check_sources)
    if not data.dataloader_num_workers and (data.dataloader_prefetch_factor or data.dataloader_persistent_workers):
        raise UsageError(
            "--dataloader_prefetch_factor and --dataloader_persistent_workers need --dataloader_num_workers >= 1."
        )
    check_training(train)
    if check_sources:
        check_hub_ids_offline(model, data)
    check_streaming(data, train, check_sources)  # last: it may ask the source for its splits


@dataclass(frozen=True)
class ResolvedOptions:
    """The options as a run reads them, worked out once. A run is built from these and the options; once built,
    it and its loop read these alone."""

    schedule: DurationSchedule  # a single --max_duration is a schedule of one phase
    crop_lengths: str  # the schedule as the log says it: --duration_schedule as given, or --max_duration
    output_dir: Path
    validation_split: str | None  # None: a share of train is held out
    streaming: bool
    train_batch_plan: BatchPlan
    eval_batch_plan: BatchPlan
    trackers: tuple[str, ...]
    gradient_accumulation_steps: int
    max_grad_norm: float  # inf: no clipping
    gumbel_temperature: GumbelTemperature
    logging_steps: int
    eval_steps: int | None  # None: validate at the end only
    save_total_limit: int

    @property
    def max_duration(self) -> float:
        """The run's longest crop: --max_duration, or the longest length of --duration_schedule."""
        return self.schedule.longest


def resolve(model: ModelArguments, data: DataArguments, train: PretrainingArguments) -> ResolvedOptions:
    """Derived values of checked options: the crop lengths over the run, the batch plans, where outputs go; and
    the options a built run reads as they are."""
    schedule = (
        DurationSchedule.parse(data.duration_schedule)
        if data.duration_schedule
        else DurationSchedule((data.max_duration,), (1.0,))
    )
    length_buckets = (
        data.length_buckets
        if data.length_buckets is not None
        else (COMPILE_LENGTH_BUCKETS if train.torch_compile else 0)
    )
    lengths = dict(max_duration=schedule.longest, min_duration=data.min_duration, length_buckets=length_buckets)
    return ResolvedOptions(
        schedule=schedule,
        crop_lengths=data.duration_schedule or f"{schedule.longest:g}s",
        output_dir=Path(train.output_dir or f"outputs/wav2vec2-pretrain-{schedule.longest:g}s"),
        validation_split=validation_split(data),
        streaming=data.streaming,
        train_batch_plan=BatchPlan(
            **lengths,
            crop_mode=data.crop_mode,
            seed=train.seed,
            batch_size=train.per_device_train_batch_size,
            max_batch_seconds=train.max_batch_seconds,
        ),
        # Validation crops are the same at every evaluation (epoch 0), so its losses are comparable.
        eval_batch_plan=BatchPlan(
            **lengths, crop_mode="random", seed=train.seed + 1, batch_size=train.per_device_eval_batch_size
        ),
        trackers=tuple(t for t in train.report_to.split(",") if t and t != "none"),
        gradient_accumulation_steps=train.gradient_accumulation_steps,
        max_grad_norm=train.max_grad_norm or math.inf,
        gumbel_temperature=GumbelTemperature(
            start=model.max_gumbel_temperature, floor=model.min_gumbel_temperature, decay=model.gumbel_temperature_decay
        ),
        logging_steps=train.logging_steps,
        eval_steps=train.eval_steps,
        save_total_limit=train.save_total_limit,
    )
