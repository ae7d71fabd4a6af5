"""The model card of a downstream run (model-index results, the upstream and its costs), and what the upstream's
folder tells about it for results.json (results.py describes that file)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..publishing.release import (
    DEFAULT_LICENSE,
    base_model_name,
    card_license,
    cost_sections,
    folder_name,
    hub_datasets,
    published_repo_id,
    without_machine_paths,
)
from .task_table import TASKS

logger = logging.getLogger(__name__)


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        logger.warning("cannot read %s (%s); it is left out of the results", path, error)
        return None


def upstream_info(model_name_or_path: str) -> dict:
    """The upstream checkpoint, its pre-training crop length, costs, license and the Hub repo it was pushed
    to, as far as its folder tells.

    costs.json may gain fields over time: it is passed on whole, never assumed to hold a key.
    A Hub id (no local folder) gives nulls.
    """
    folder = Path(model_name_or_path)
    pretraining_args = _read_json(folder / "pretraining_args.json") or {}
    return {
        "model_name_or_path": str(folder.resolve()) if folder.is_dir() else model_name_or_path,
        "max_duration": pretraining_args.get("max_duration"),
        "crop_mode": pretraining_args.get("crop_mode"),
        "published_as": published_repo_id(folder),
        "license": card_license(folder),
        "costs": _read_json(folder / "costs.json"),
    }


INTERVALS_NOTE = (
    "The 95% CIs cover this run's own test examples only (jackknife over examples, normal quantile): "
    "they show how far a test set of the same size could move each score. They leave out the chance "
    "in the pre-training and fine-tuning seeds, which at demo scale is larger; comparing two "
    "checkpoints needs several seeds of each (`hf-seqlen sweep`)."
)


def is_timing(metric: str) -> bool:
    """What the Trainer adds to a split's metrics about the machine's speed (runtime, samples_per_second,
    steps_per_second, model_preparation_time): no result of the model, kept out of a card's results table."""
    return metric in ("runtime", "model_preparation_time") or metric.endswith("_per_second")


def interval_text(interval: dict | None) -> str:
    return f"{interval['low']:.4f} to {interval['high']:.4f}" if interval else ""


def metric_title(split: str, metric: str, interval: dict | None) -> str:
    """A model-index entry's name, as the Hub shows it: with the 95% interval when there is one."""
    return f"{split} {metric}" + (f" (95% CI {interval_text(interval)})" if interval else "")


def model_index_results(results: dict, dataset_name: str, dataset_type: str) -> list[EvalResult]:
    """One model-index entry per split and headline metric, named with its 95% interval (timings and losses stay
    in the table only)."""
    task = TASKS[results["task"]]
    intervals = results.get("intervals", {})
    return [
        EvalResult(
            task_type=task.pipeline_tag,
            task_name=task.title,
            dataset_type=dataset_type,
            dataset_name=dataset_name,
            dataset_split=split,
            metric_type=metric,
            metric_value=value,
            metric_name=metric_title(split, metric, intervals.get(split, {}).get(metric)),
        )
        for split, values in results["metrics"].items()
        for metric, value in values.items()
        if metric in ("accuracy", "f1", "uar", "wer", "cer")
    ]


def downstream_card(
    results: dict,
    dataset_name: str,
    dataset_type: str,
    model_name: str,
    hub_dataset: str | None = None,
    license: str | None = None,
) -> ModelCard:
    """A card whose model-index holds every measured metric, linking the upstream (as `base_model`: base_model_name)
    and its costs. The license is `license`, else the upstream's, else hf_seqlen's default.
    A local folder, of data or of the upstream, is named by its last component: never this machine's path."""
    task, upstream = results["task"], results["upstream"]
    dataset_name, dataset_type = folder_name(dataset_name), folder_name(dataset_type)
    task_type = TASKS[task].pipeline_tag
    eval_results = model_index_results(results, dataset_name, dataset_type)
    upstream_path = upstream["model_name_or_path"]
    base_model = base_model_name(upstream_path, upstream.get("published_as"))
    data = ModelCardData(
        model_name=model_name,
        license=license or upstream.get("license") or DEFAULT_LICENSE,
        library_name="transformers",
        pipeline_tag=task_type,
        tags=["wav2vec2", "audio", "hf-seqlen", task],
        base_model=base_model,
        datasets=hub_datasets(hub_dataset),
        eval_results=eval_results or None,
    )
    crop = (
        f"{upstream['max_duration']:g} s crops"
        if upstream.get("max_duration") is not None
        else "an unknown crop length"
    )
    intervals = results.get("intervals", {})
    metric_rows = "\n".join(
        f"| {split} | {metric} | {value:.4f} | {interval_text(intervals.get(split, {}).get(metric))} |"
        for split, values in results["metrics"].items()
        for metric, value in values.items()
        if isinstance(value, float) and not is_timing(metric)
    )
    upstream_costs = (
        cost_sections(upstream["costs"], "Upstream pre-training cost")
        if upstream.get("costs")
        else "## Upstream pre-training cost\n\nNo costs.json beside the upstream checkpoint.\n"
    )
    content = f"""---
{data.to_yaml()}
---

# {model_name}

{TASKS[task].title} ({results["protocol"]}) on {dataset_name}, from the wav2vec 2.0 upstream
`{base_model}`, pre-trained on {crop}.

## Results (measured)

| split | metric | value | 95% CI |
|---|---|---|---|
{metric_rows}

{INTERVALS_NOTE}

{upstream_costs}
## Run

```json
{json.dumps(without_machine_paths(results), indent=2, default=str)}
```
"""
    return ModelCard(content)
