"""The downstream recipe: upstream checkpoint -> task head -> transformers.Trainer -> metrics, results.json, card.

The task, picked from tasks.py's table, gives the model with its head, the targets and the per-example scoring.
A batch goes: LabelledAudio (decode with soundfile; training clips cropped at random) ->
AudioCollator (pad, attention mask, labels) -> Wav2Vec2ForCTC / Wav2Vec2ForSequenceClassification.
Probing (--freeze_upstream) reads the upstream's hidden states, computed once, instead (feature_cache.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import Trainer, TrainingArguments, Wav2Vec2FeatureExtractor, set_seed

from ..costs.meter import CostMeter
from ..option_parsing import UsageError
from ..process_group import leave_process_group
from ..statistics import intervals_of, metrics_of
from .args import DownstreamArguments
from .card import downstream_card, upstream_info
from .data import AudioCollator, example_clusters, load_task_splits
from .feature_cache import task_inputs
from .probing import apply_protocol, config_overrides, trainable_parameter_names
from .publish import start_publishing, take_over_publishing
from .results import example_ids, examples_file, strip_prefix, with_clusters, write_examples, write_results
from .tasks import Task, task_family
from .trainer_settings import allow_skipped_layers, evaluate_without_padding_if_needed

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


def _feature_extractor(args: DownstreamArguments) -> Wav2Vec2FeatureExtractor:
    try:
        return Wav2Vec2FeatureExtractor.from_pretrained(args.model_name_or_path, cache_dir=args.cache_dir)
    except OSError as error:
        raise UsageError(
            f"--model_name_or_path {args.model_name_or_path}: no feature extractor found ({error}). Give a "
            "run_pretrain.py output folder, a folder with preprocessor_config.json, or a cached Hub id."
        ) from None


def make_trainer(
    model,
    training_args: TrainingArguments,
    feature_extractor: Wav2Vec2FeatureExtractor,
    probing: bool,
    datasets: dict,
    compute_metrics=None,
    keep_from_logits=None,
    processor=None,
    data_collator=None,
) -> Trainer:
    """The Trainer, with what DDP and evaluation batching need for this upstream (see trainer_settings.py)."""
    allow_skipped_layers(training_args, model.config, probing)
    evaluate_without_padding_if_needed(training_args, model.config, feature_extractor)
    return Trainer(
        model=model,
        args=training_args,
        train_dataset=datasets.get("train"),
        eval_dataset=datasets.get("eval"),
        data_collator=data_collator or AudioCollator(return_attention_mask=feature_extractor.return_attention_mask),
        compute_metrics=compute_metrics,
        preprocess_logits_for_metrics=keep_from_logits,
        processing_class=processor or feature_extractor,
    )


def downstream(args: DownstreamArguments, training_args: TrainingArguments) -> dict:
    """One downstream run; under DDP it ends by destroying the process group, so call it once per process."""
    set_seed(training_args.seed)
    output_dir = Path(training_args.output_dir)
    publisher = take_over_publishing(training_args)  # before any heavy work: a bad token fails now
    feature_extractor = _feature_extractor(args)
    splits = load_task_splits(args)
    ids = {part: example_ids(split, args.audio_column_name) for part, split in splits.items()}
    clusters = {part: example_clusters(split, args.task, args.label_column_name) for part, split in splits.items()}
    task = task_family(args.task)(args, splits, feature_extractor, output_dir, config_overrides(args))
    apply_protocol(task.model, args)
    logger.info(
        "%s: %s, %d trainable tensors",
        args.task,
        "probing" if args.freeze_upstream else "fine-tuning",
        len(trainable_parameter_names(task.model)),
    )

    datasets, collator, feature_cache = task_inputs(
        task.model, splits, task.targets, args, training_args, feature_extractor
    )
    trainer = make_trainer(
        task.model,
        training_args,
        feature_extractor,
        args.freeze_upstream,
        datasets,
        task.compute_metrics,
        task.keep_from_logits,
        task.processor,
        collator,
    )
    train = _train(trainer, args, training_args)
    train["feature_cache"] = feature_cache  # probing: what computing (or reusing) the features cost, else null
    examples, metrics, intervals = _score(trainer, task, datasets, ids, clusters)
    results = {
        "task": args.task,
        "protocol": "probe" if args.freeze_upstream else "fine-tune",
        "upstream": upstream_info(args.model_name_or_path),
        "metrics": metrics,
        "intervals": intervals,  # 95% CIs over the examples of this run (its seed's own chance is not in them)
        "examples": {part: examples_file(part) for part in examples},
        "train": train,
    }
    if trainer.is_world_process_zero():
        _write(output_dir, args, results, examples)
        if publisher:
            start_publishing(publisher, training_args)
    accelerator = trainer.accelerator
    del trainer, task  # the DDP wrapper must go before the process group
    leave_process_group(accelerator)
    if publisher:
        publisher.wait()
    return results


def _train(trainer: Trainer, args: DownstreamArguments, training_args: TrainingArguments) -> dict:
    """Train and save the model with its processor; what it took, for results.json."""
    # Time, memory and energy of fine-tuning; Trainer batches carry no audio bookkeeping, so the
    # audio and FLOPs counters of the meter stay out of the results rather than read as zero.
    # The Trainer's accelerator gives the training device and the process count (device-hours).
    with CostMeter(trainer.accelerator, country_iso_code=args.country_iso_code) as meter:
        train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        costs = {k: v for k, v in meter.report().items() if k in FINE_TUNING_COST_FIELDS}
    trainer.save_model()  # the model and its processor / feature extractor (never a push: publish.py pushes)
    return {
        "steps": train_result.global_step,
        "loss": train_result.training_loss,
        "runtime_seconds": train_result.metrics.get("train_runtime"),
        "max_duration": args.max_duration,
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


def _write(output_dir: Path, args: DownstreamArguments, results: dict, examples: dict[str, list[dict]]) -> None:
    """results.json, each part's outcomes beside it, and the model card."""
    write_results(output_dir, results)
    for part, rows in examples.items():
        write_examples(output_dir, part, rows)
    dataset = args.dataset_name or args.data_dir or "the hf_seqlen demo corpus"
    dataset_type = args.dataset_name or "audiofolder"  # a Hub id, else the layout of local folders
    downstream_card(
        results, dataset, dataset_type, output_dir.name, hub_dataset=args.dataset_name, license=args.license
    ).save(output_dir / "README.md")
    logger.info("done: model, processor, results.json and model card in %s", output_dir.resolve())
