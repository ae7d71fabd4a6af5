"""The downstream recipe: upstream checkpoint -> task head -> transformers.Trainer -> metrics, results.json, card.

The task, picked from tasks.py's table, gives the model with its head, the targets and the per-example scoring.
A batch goes: LabelledAudio (decode with soundfile; training clips cropped at random) ->
AudioCollator (pad, attention mask, labels) -> Wav2Vec2ForCTC / Wav2Vec2ForSequenceClassification.
Probing (--freeze_upstream) reads the upstream's hidden states, computed once, instead (feature_cache.py): the
protocol (protocol.py) says what the model reads, what trains and what the Trainer must allow.
"""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import Trainer, TrainingArguments, Wav2Vec2FeatureExtractor, set_seed

from ..costs.meter import CostMeter
from ..option_parsing import UsageError
from ..process_group import leave_process_group
from ..statistics import intervals_of, metrics_of
from .args import DownstreamArguments, ResolvedOptions, resolve
from .card import downstream_card, upstream_info
from .data import example_clusters, load_task_splits
from .protocol import Protocol, TaskInputs, trainable_parameter_names
from .publish import start_publishing, take_over_publishing
from .results import example_ids, examples_file, strip_prefix, with_clusters, write_examples, write_results
from .tasks import Task, task_family
from .trainer_settings import evaluate_without_padding_if_needed

logger = logging.getLogger("hf_seqlen.downstream")

FINE_TUNING_COST_FIELDS = (
    "wall_clock_seconds",
    "device_kind",
    "device_name",
    "num_devices",
    "device_hours",
    "peak_accelerator_memory_gib",
    "peak_host_memory_gib",
    "energy_kwh_estimated",
    "co2_kg_estimated",
    "energy_estimate",
)


def _feature_extractor(options: ResolvedOptions) -> Wav2Vec2FeatureExtractor:
    try:
        return Wav2Vec2FeatureExtractor.from_pretrained(options.model_name_or_path, cache_dir=options.cache_dir)
    except OSError as error:
        raise UsageError(
            f"--model_name_or_path {options.model_name_or_path}: no feature extractor found ({error}). Give a "
            "run_pretrain.py output folder, a folder with preprocessor_config.json, or a cached Hub id."
        ) from None


def make_trainer(
    task: Task,
    inputs: TaskInputs,
    *,
    protocol: Protocol,
    training_args: TrainingArguments,
    feature_extractor: Wav2Vec2FeatureExtractor,
) -> Trainer:
    """The Trainer of the task's model on its inputs, with what DDP and evaluation batching need for this upstream
    under this protocol (see trainer_settings.py)."""
    protocol.apply_trainer_settings(training_args, task.model.config)
    evaluate_without_padding_if_needed(training_args, task.model.config, feature_extractor)
    return Trainer(
        model=task.model,
        args=training_args,
        train_dataset=inputs.datasets.get("train"),
        eval_dataset=inputs.datasets.get("eval"),
        data_collator=inputs.collator,
        compute_metrics=task.compute_metrics,
        preprocess_logits_for_metrics=task.keep_from_logits,
        processing_class=task.processor,
    )


def downstream(args: DownstreamArguments, training_args: TrainingArguments) -> dict:
    """One downstream run from validated options; under DDP it ends by destroying the process group, so call it
    once per process."""
    options = resolve(args)
    protocol, data = options.protocol, options.data
    set_seed(training_args.seed)
    output_dir = Path(training_args.output_dir)
    publisher = take_over_publishing(training_args)  # before any heavy work: a bad token fails now
    feature_extractor = _feature_extractor(options)
    splits = load_task_splits(data)
    ids = {part: example_ids(split, data.audio_column_name) for part, split in splits.items()}
    clusters = {part: example_clusters(split, data.task, data.label_column_name) for part, split in splits.items()}
    task = task_family(options.task)(options, splits, feature_extractor, output_dir)
    protocol.freeze(task.model)
    logger.info(
        "%s: %s, %d trainable tensors", options.task, protocol.activity, len(trainable_parameter_names(task.model))
    )

    inputs = protocol.inputs(task.model, splits, task.targets, data, training_args, feature_extractor)
    trainer = make_trainer(
        task, inputs, protocol=protocol, training_args=training_args, feature_extractor=feature_extractor
    )
    train = _train(trainer, options, training_args)
    train["feature_cache"] = inputs.feature_cache  # probing: what computing (or reusing) the features cost, else null
    examples, metrics, intervals = _score(trainer, task, inputs.datasets, ids, clusters)
    results = {
        "task": options.task,
        "protocol": protocol.name,
        "upstream": upstream_info(options.model_name_or_path),
        "metrics": metrics,
        "intervals": intervals,  # 95% CIs over the examples of this run (its seed's own chance is not in them)
        "examples": {part: examples_file(part) for part in examples},
        "train": train,
    }
    if trainer.is_world_process_zero():
        _write(output_dir, options, results, examples)
        if publisher:
            start_publishing(publisher, training_args)
    accelerator = trainer.accelerator
    del trainer, task  # the DDP wrapper must go before the process group
    leave_process_group(accelerator)
    if publisher:
        publisher.wait()
    return results


def _train(trainer: Trainer, options: ResolvedOptions, training_args: TrainingArguments) -> dict:
    """Train and save the model with its processor; what it took, for results.json."""
    # Time, memory and energy of fine-tuning; Trainer batches carry no audio bookkeeping, so the
    # audio and FLOPs counters of the meter stay out of the results rather than read as zero.
    # The Trainer's accelerator gives the training device and the process count (device-hours).
    with CostMeter(trainer.accelerator, country_iso_code=options.country_iso_code) as meter:
        train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        costs = {k: v for k, v in meter.report().items() if k in FINE_TUNING_COST_FIELDS}
    trainer.save_model()  # the model and its processor / feature extractor (never a push: publish.py pushes)
    return {
        "steps": train_result.global_step,
        "loss": train_result.training_loss,
        "runtime_seconds": train_result.metrics.get("train_runtime"),
        "max_duration": options.data.max_duration,
        "costs": costs,
    }


def _score(
    trainer: Trainer, task: Task, datasets: dict, ids: dict[str, list[str]], clusters: dict[str, list[str] | None]
) -> tuple[dict, dict, dict]:
    """Per-example outcomes (with each example's speaker where known), metrics and their intervals of each evaluated
    part. Final scores come from the outcomes against the original targets, not from what Trainer computed while
    training."""
    trainer.compute_metrics = None
    examples, metrics, intervals = {}, {}, {}
    for part in ("eval", "test"):
        if part in datasets:
            output = trainer.predict(datasets[part], metric_key_prefix=part)
            examples[part] = with_clusters(task.outcomes(part, output, ids[part]), clusters[part])
            metrics[part] = {**strip_prefix(output.metrics, part), **metrics_of(examples[part], task.metric_names)}
            intervals[part] = intervals_of(examples[part], task.metric_names)
    return examples, metrics, intervals


def _write(output_dir: Path, options: ResolvedOptions, results: dict, examples: dict[str, list[dict]]) -> None:
    """results.json, each part's outcomes beside it, and the model card."""
    write_results(output_dir, results)
    for part, rows in examples.items():
        write_examples(output_dir, part, rows)
    data = options.data
    dataset = data.dataset_name or data.data_dir or "the hf_seqlen demo corpus"
    dataset_type = data.dataset_name or "audiofolder"  # a Hub id, else the layout of local folders
    downstream_card(
        results, dataset, dataset_type, output_dir.name, hub_dataset=data.dataset_name, license=options.license
    ).save(output_dir / "README.md")
    logger.info("done: model, processor, results.json and model card in %s", output_dir.resolve())
