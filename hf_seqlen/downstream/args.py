"""Arguments of run_downstream.py: DownstreamArguments (one dataclass per topic of --help) and transformers'
`TrainingArguments`, parsed once, from the command line or from one .json / .yaml options file. `check_options` checks
them and changes nothing; `resolve` turns them once into what a run reads (`ResolvedOptions`): the task's defaults
filled in, and the protocol, fine-tuning or probing.

Training defaults (learning rate, steps, batch size) depend on the task and on the protocol:
`task_training_defaults` returns them once the task is known, and a value the user gives wins. They were measured
on the demo corpus (docs/measurements/probe-length.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

from transformers import TrainingArguments

from ..costs.meter import COUNTRY_ISO_CODE_HELP, country_problem
from ..option_parsing import DataclassParser, UsageError
from .data import OTHER_LABEL, TaskData
from .feature_cache import FeatureCache
from .layer_sum_ctc import CTC_HEADS
from .protocol import FineTuning, Probing, Protocol
from .task_table import CLASSIFICATION_TASKS, TASKS

# Training defaults of every task (transformers' own for the options not named here or in the task's entry).
COMMON_TRAINING_DEFAULTS = {
    "warmup_steps": 0.1,
    "logging_steps": 10,
    "save_strategy": "no",
    "report_to": "none",
    "remove_unused_columns": False,
}
# Defaults a task's entry may change: --help shows them as "per task".
BATCH_TRAINING_DEFAULTS = {"per_device_train_batch_size": 16, "per_device_eval_batch_size": 8, "max_steps": 200}


@dataclass
class TaskArguments:
    _argument_group_name = "task and upstream"

    task: str = field(
        metadata={
            "help": "asr (CTC, WER/CER), kws (keywords), sid (speakers), er (emotions, also UAR) or "
            "audio-classification (any label column); the classification tasks report accuracy and macro-F1.",
            "choices": list(TASKS),
        }
    )
    model_name_or_path: str = field(
        metadata={"help": "Upstream checkpoint: a run_pretrain.py output folder, any local folder, or a Hub id."}
    )
    cache_dir: str | None = field(default=None, metadata={"help": "Where Hub downloads are cached."})


@dataclass
class ProtocolArguments:
    _argument_group_name = "fine-tuning or probing"

    freeze_upstream: bool = field(
        default=False,
        metadata={
            "help": "Probing (SUPERB): keep every upstream weight frozen and train only the head on a learnable "
            "softmax-weighted sum of all hidden layers. Default: fine-tune the whole upstream."
        },
    )
    cache_features: bool = field(
        default=True,
        metadata={
            "help": "With --freeze_upstream: compute every layer's hidden states once per (upstream, split), each "
            "utterance alone, and train the head on them (training crops are cut from them in frames). "
            "--no_cache_features runs the frozen upstream at every step instead (slower, same model)."
        },
    )
    feature_cache_dir: str | None = field(
        default=None,
        metadata={
            "help": "Where cached hidden states go (default: OUTPUT_DIR/feature_cache). Share one folder "
            "between runs that probe the same upstream on the same data to compute them once."
        },
    )
    feature_cache_max_gib: float = field(
        default=64.0,
        metadata={
            "help": "Refuse to build a feature cache larger than this (GiB on disk): frames (about 50 per "
            "second) x (layers + 1) x hidden size x 2 bytes, summed over the splits."
        },
    )
    freeze_feature_encoder: bool = field(
        default=True,
        metadata={"help": "When fine-tuning, keep the convolutional feature encoder frozen (the wav2vec 2.0 recipe)."},
    )
    mask_time_prob: float = field(
        default=0.05,
        metadata={"help": "SpecAugment time masking while fine-tuning (0 under --freeze_upstream)."},
    )


@dataclass
class ProbeHeadArguments:
    _argument_group_name = "asr probing head"

    ctc_head: str = field(
        default="conv",
        metadata={
            "help": "asr probing: the head on the weighted layer sum before the linear output layer: conv "
            "(1-D convolutions, kernel 5), bilstm (SUPERB's ASR downstream, small; several times slower "
            "on a CPU) or linear (the output layer alone, as Wav2Vec2ForCTC's).",
            "choices": list(CTC_HEADS),
        },
    )
    ctc_head_hidden_size: int = field(
        default=256, metadata={"help": "conv / bilstm head: channels, or LSTM units per direction."}
    )
    ctc_head_num_layers: int = field(default=2, metadata={"help": "conv / bilstm head: convolution or LSTM layers."})
    ctc_head_downsample: int = field(
        default=2,
        metadata={
            "help": "conv / bilstm head: adjacent frames concatenated into one (2: 25 frames per second in "
            "place of 50): fewer steps for the head and the CTC loss."
        },
    )


@dataclass
class TaskDataArguments:
    _argument_group_name = "data"

    dataset_name: str | None = field(default=None, metadata={"help": "Hub dataset, e.g. superb."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Its config, e.g. ks."})
    data_dir: str | None = field(
        default=None,
        metadata={
            "help": "Local audio folder (audiofolder layout with metadata.csv, or class sub-folders). "
            "Default: the embedded demo corpus (asr, kws and sid only)."
        },
    )
    train_split_name: str = field(default="train", metadata={"help": "Split to train on."})
    validation_split_name: str | None = field(
        default="validation", metadata={"help": "Split evaluated as 'eval' (empty string: none)."}
    )
    test_split_name: str | None = field(
        default="test", metadata={"help": "Split evaluated as 'test' (empty string: none)."}
    )
    audio_column_name: str = field(default="audio", metadata={"help": "Column that holds the audio."})
    text_column_name: str = field(
        default="text", metadata={"help": "asr: column of transcripts.", "aliases": ["--text_column"]}
    )
    label_column_name: str | None = field(
        default=None,
        metadata={
            "help": "Classification: column of labels (default: keyword for kws, speaker for sid, "
            "emotion for er, label for audio-classification).",
            "aliases": ["--label_column"],
        },
    )
    keep_labels: list[str] | None = field(
        default=None,
        metadata={
            "help": f"Classification: keep these labels and merge every other one into one class, {OTHER_LABEL} "
            "(Speech Commands' 12 classes: the ten command words and _silence_ kept, the rest "
            f"{OTHER_LABEL}). Default: every label is its own class."
        },
    )
    max_duration: float | None = field(
        default=None,
        metadata={
            "help": "Classification: training clips are randomly cropped to this many seconds; asr: longer "
            "training utterances are dropped. Evaluation always uses whole utterances. Default "
            "per task: " + ", ".join(f"{name} {spec.max_duration:g}" for name, spec in TASKS.items()) + "."
        },
    )
    max_eval_samples: int | None = field(default=None, metadata={"help": "Cap on utterances per evaluated split."})


@dataclass
class ReportArguments:
    _argument_group_name = "costs and model card"

    country_iso_code: str = field(default="USA", metadata={"help": COUNTRY_ISO_CODE_HELP})
    license: str | None = field(
        default=None,
        metadata={
            "help": "License of the fine-tuned weights, written in the model card: a Hub license id. "
            "Default: the upstream's, as its model card states it, else apache-2.0."
        },
    )


# The topics of --help, in the order shown; DownstreamArguments holds all their fields.
TOPICS = (TaskArguments, ProtocolArguments, ProbeHeadArguments, TaskDataArguments, ReportArguments)


@dataclass
class DownstreamArguments(*reversed(TOPICS)):  # a dataclass takes its fields from its last base first
    """Every option of run_downstream.py but transformers' TrainingArguments, as given. An empty split name means
    none; --max_duration and --label_column_name, left out, take the task's default (`resolve`)."""


def protocol_of(args: DownstreamArguments) -> Protocol:
    """Probing under --freeze_upstream (on cached features unless --no_cache_features), else fine-tuning."""
    if not args.freeze_upstream:
        return FineTuning(mask_time_prob=args.mask_time_prob, freeze_feature_encoder=args.freeze_feature_encoder)
    if not args.cache_features:
        return Probing(feature_cache=None)
    return Probing(
        feature_cache=FeatureCache(
            upstream=args.model_name_or_path,
            hub_cache_dir=args.cache_dir,
            folder=args.feature_cache_dir,
            max_gib=args.feature_cache_max_gib,
        )
    )


def task_training_defaults(task: str, protocol: Protocol) -> dict:
    """The training options --task and the protocol set, under what the user gives."""
    return {**COMMON_TRAINING_DEFAULTS, **BATCH_TRAINING_DEFAULTS, **protocol.training_defaults(TASKS[task])}


class _PerTask:
    """The parser's value of a training option the user left to the task (shown by --help)."""

    def __repr__(self) -> str:
        return "per task, see docs/downstream.md"


PER_TASK = _PerTask()
TASK_SET_OPTIONS = sorted(
    {*BATCH_TRAINING_DEFAULTS, *(name for spec in TASKS.values() for name in (*spec.fine_tuning, *spec.probing))}
)


class _TrainingOptions(TrainingArguments):
    """TrainingArguments' options under their own heading of --help."""

    _argument_group_name = "training (transformers.TrainingArguments)"


class DownstreamParser(DataclassParser):
    """The options of every topic and of TrainingArguments, parsed once into (DownstreamArguments,
    TrainingArguments): the training options the user left out take the task's defaults."""

    def __init__(self, prog: str | None = None) -> None:
        super().__init__(
            (*TOPICS, _TrainingOptions),
            prog=prog,
            epilog="A yes/no option given alone means true; --no_NAME or --NAME false turns it off.",
        )
        for action in self._actions:
            if isinstance(action, argparse._StoreFalseAction):  # --no_NAME: the epilog says it once for all
                action.help = argparse.SUPPRESS
        self.set_defaults(**COMMON_TRAINING_DEFAULTS, **dict.fromkeys(TASK_SET_OPTIONS, PER_TASK))

    def parse_args_into_dataclasses(self, args=None, **_) -> tuple[DownstreamArguments, TrainingArguments]:
        namespace, _ = self.parse_known_args(args)  # parse_command_line refused unknown options before
        return self.parse_dict(vars(namespace))

    def parse_dict(self, values: dict, allow_extra_keys: bool = False) -> tuple[DownstreamArguments, TrainingArguments]:
        """The options given, and the defaults, as the two dataclasses."""
        args = DownstreamArguments(
            **{name: values[name] for name in _field_names(DownstreamArguments) if name in values}
        )
        given = {
            name: values[name]
            for name in _field_names(TrainingArguments)
            if name in values and values[name] is not PER_TASK
        }
        return args, TrainingArguments(**{**task_training_defaults(args.task, protocol_of(args)), **given})


def _field_names(dataclass_type) -> list[str]:
    return [f.name for f in dataclasses.fields(dataclass_type) if f.init]


def parse_args(
    argv: list[str] | None = None, check_sources: bool = True
) -> tuple[DownstreamArguments, TrainingArguments]:
    """From the command line and its --config file (or one .json / .yaml file given alone). check_sources=False
    leaves out what needs the data (a sweep's plan is checked where it may not be)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args, training_args = DownstreamParser().parse_command_line(argv)
    check_options(args, training_args, check_sources)
    return args, training_args


def check_options(args: DownstreamArguments, training_args: TrainingArguments, check_sources: bool = True) -> None:
    """Catch argument mistakes before data or models load; nothing is changed."""
    if args.dataset_name and args.data_dir:
        raise UsageError("give --dataset_name (a Hub dataset) or --data_dir (a local folder), not both.")
    if check_sources and args.data_dir and not Path(args.data_dir).is_dir():
        raise UsageError(f"--data_dir {args.data_dir}: no such directory.")
    if args.task == "er" and not (args.dataset_name or args.data_dir):
        raise UsageError(
            "--task er needs a dataset with an emotion label: the demo corpus has none. "
            "Give --data_dir or --dataset_name (and --label_column if the column is not 'emotion')."
        )
    if args.keep_labels and not TASKS[args.task].is_classification:
        raise UsageError(
            f"--keep_labels is for classification tasks ({', '.join(CLASSIFICATION_TASKS)}), not "
            f"--task {args.task}. Leave it out."
        )
    if args.feature_cache_dir and not (args.freeze_upstream and args.cache_features):
        raise UsageError(
            "--feature_cache_dir is for probing on cached features: add --freeze_upstream "
            "(and drop --no_cache_features), or drop --feature_cache_dir."
        )
    if args.feature_cache_max_gib <= 0:
        raise UsageError(f"--feature_cache_max_gib must be > 0 (got {args.feature_cache_max_gib}).")
    for name in ("ctc_head_hidden_size", "ctc_head_num_layers", "ctc_head_downsample"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be a whole number >= 1 (got {getattr(args, name)}).")
    if args.max_duration is not None and args.max_duration <= 0:
        raise UsageError(f"--max_duration must be > 0 seconds (got {args.max_duration}).")
    if problem := country_problem(args.country_iso_code):
        raise UsageError(problem)
    if training_args.output_dir is None:
        raise UsageError("--output_dir is required: where the fine-tuned model, results.json and card go.")
    if training_args.push_to_hub and training_args.hub_strategy == "checkpoint" and training_args.save_strategy == "no":
        raise UsageError(
            "--hub_strategy checkpoint publishes the newest checkpoint, but --save_strategy no saves none: "
            "add --save_strategy steps --save_steps N, or leave --hub_strategy out."
        )
    if training_args.remove_unused_columns:
        raise UsageError("--remove_unused_columns must stay False: the audio is decoded from its column per batch.")


@dataclass(frozen=True)
class ResolvedOptions:
    """The options as a run reads them, worked out once from validated ones: what they leave to the task filled in,
    and the protocol."""

    task: str
    model_name_or_path: str
    cache_dir: str | None
    protocol: Protocol
    ctc_probe_head: dict  # the head an asr probe trains: Wav2Vec2LayerSumConfig's ctc_head options
    data: TaskData
    country_iso_code: str
    license: str | None


def resolve(args: DownstreamArguments) -> ResolvedOptions:
    """Derived values of validated options: the task's crop length and label column where none was given, the
    splits named, the protocol."""
    spec = TASKS[args.task]
    names = {"train": args.train_split_name, "eval": args.validation_split_name, "test": args.test_split_name}
    data = TaskData(
        task=args.task,
        dataset_name=args.dataset_name,
        dataset_config_name=args.dataset_config_name,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        split_names={part: name for part, name in names.items() if name},
        audio_column_name=args.audio_column_name,
        text_column_name=args.text_column_name,
        label_column_name=spec.label_column if args.label_column_name is None else args.label_column_name,
        keep_labels=tuple(args.keep_labels) if args.keep_labels else None,
        max_duration=spec.max_duration if args.max_duration is None else args.max_duration,
        max_eval_samples=args.max_eval_samples,
    )
    return ResolvedOptions(
        task=args.task,
        model_name_or_path=args.model_name_or_path,
        cache_dir=args.cache_dir,
        protocol=protocol_of(args),
        ctc_probe_head={name: getattr(args, name) for name in _field_names(ProbeHeadArguments)},
        data=data,
        country_iso_code=args.country_iso_code,
        license=args.license,
    )
