"""What an output folder publishes: the model, its costs.json and a model card made from them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData, metadata_load

from ..corpus.sources import describe_source
from ..costs.meter import cost_table, round_figure, write_costs
from ..pretrain.run_health import card_warning

TAGS = ["wav2vec2", "self-supervised-learning", "audio", "hf-seqlen"]
# A pre-trained encoder gives features; tasks come with a head trained on them (run_downstream.py).
PIPELINE_TAG = "feature-extraction"
# The license weights are published under unless --license names another; also that of runs whose configuration
# predates --license.
DEFAULT_LICENSE = "apache-2.0"
CARD_FILE = "README.md"
COSTS_FILE = "costs.json"
RUN_CONFIG_FILE = "pretraining_args.json"
EVAL_RESULTS_FILE = "eval_results.json"
DOWNSTREAM_RESULTS_FILE = "results.json"  # what marks a downstream run's folder (downstream/results.py)
EXAMPLES_SUFFIX = "_examples.jsonl"  # a downstream split's per-example outcomes: test_examples.jsonl
PUBLISHED_FILE = "published.json"  # the Hub repo a run was pushed to; kept local, never uploaded
SECTION_FILE = "study.md"  # a section a sweep adds to the card (study/card.py), kept beside it to outlive rewrites
SECRET_ARGUMENTS = ("hub_token",)
ELIDED = ".../"  # stands for the part of a local path that published files leave out


def without_secrets(run_config: dict) -> dict:
    """The configuration as it may be written to disk, logged or published."""
    return {k: "<redacted>" if k in SECRET_ARGUMENTS and v else v for k, v in run_config.items()}


def published_path(value: str) -> str:
    """A path as published files state it. An absolute path would publish this machine's user names and directory
    layout: only its last component is kept, after ELIDED (a made demo corpus's last component is its name and
    version, demo_corpus_large_v1). Anything else (a Hub id, a relative path) is kept as given."""
    return ELIDED + Path(value).name if Path(value).is_absolute() else value


def without_machine_paths(value):
    """A JSON-like value with each absolute path in it replaced by its published_path."""
    if isinstance(value, str):
        return published_path(value)
    if isinstance(value, dict):
        return {key: without_machine_paths(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_machine_paths(item) for item in value]
    return value


def ids_relative_to_their_folder(examples: list[dict]) -> list[dict]:
    """Outcomes whose ids (audio paths) are made relative to the folder they share: still unique, so published
    runs of the same data still pair by id, and no path of this machine."""
    paths = [str(example["id"]) for example in examples if Path(str(example["id"])).is_absolute()]
    if not paths:
        return examples
    root, absolute = os.path.commonpath([os.path.dirname(path) for path in paths]), set(paths)
    return [
        {**example, "id": os.path.relpath(example["id"], root)} if str(example["id"]) in absolute else example
        for example in examples
    ]


def rewrite_linked(path: Path, text: str) -> None:
    """Write a new file in place of a hard link, leaving the file it links to as it was."""
    path.unlink()
    path.write_text(text)


def without_machine_paths_in_downstream_files(folder: Path) -> None:
    """In a copy of a downstream run's folder that is about to be published: results.json and the outcome files
    naming no path of this machine (the local files keep theirs: the study reads them)."""
    results = folder / DOWNSTREAM_RESULTS_FILE
    rewrite_linked(results, json.dumps(without_machine_paths(json.loads(results.read_text())), indent=2) + "\n")
    for path in folder.glob("*" + EXAMPLES_SUFFIX):
        examples = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        lines = [json.dumps(example, ensure_ascii=False) + "\n" for example in ids_relative_to_their_folder(examples)]
        rewrite_linked(path, "".join(lines))


def published_config(run_config: dict) -> dict:
    """The configuration as published files state it: no secrets, no paths of this machine."""
    return without_machine_paths(without_secrets(run_config))


def is_local(name: str) -> bool:
    """A dataset or model named by a local path (as given, or as published files state it), not by a Hub id."""
    return name.startswith(ELIDED) or Path(name).is_absolute() or Path(name).exists()


def folder_name(name: str) -> str:
    """How a card's text names data or a model: a local folder by its last component, a Hub id whole."""
    return Path(name).name if is_local(name) else name


def base_model_name(model_name_or_path: str | None, published_as: str | None = None) -> str | None:
    """A card's `base_model`, for a run that started from a checkpoint: the Hub repo the checkpoint was pushed
    to, else the Hub id it was loaded by, else a local folder's last component (never a path of this machine)."""
    if not model_name_or_path:
        return None
    return published_as or folder_name(model_name_or_path)


def co2_eq_emissions(costs: dict) -> dict | None:
    """The Hub's co2_eq_emissions metadata (grams); absent when codecarbon measured nothing."""
    if costs.get("co2_kg_estimated") is None:
        return None
    energy = costs["energy_estimate"]
    return {
        "emissions": round_figure(costs["co2_kg_estimated"] * 1000),
        "source": f"{energy['source']}, tracking mode {energy['tracking_mode']} (an estimate)",
        "training_type": "pre-training",
        "geographical_location": energy.get("country_name") or energy["country_iso_code"],
        "hardware_used": f"{costs['num_devices']} x {costs['device_name']}",
    }


def hub_datasets(dataset_name: str | None) -> list[str] | None:
    """A card's `datasets`: the Hub id the data came from; a local path is no Hub id and is left out."""
    return [dataset_name] if dataset_name and not is_local(dataset_name) else None


def describe_data(dataset_name: str | None, data_dir: str | None) -> str:
    """The training data as a card's text names it: as error messages do (describe_source), local folders by name."""
    if dataset_name and is_local(dataset_name):
        return f"local dataset '{folder_name(dataset_name)}'"
    return describe_source(dataset_name, data_dir and folder_name(data_dir))


def record_publication(output_dir: Path, repo_id: str) -> None:
    (output_dir / PUBLISHED_FILE).write_text(json.dumps({"repo_id": repo_id}) + "\n")


def published_repo_id(output_dir: Path) -> str | None:
    """The Hub repo this output folder was pushed to, if it was."""
    path = output_dir / PUBLISHED_FILE
    return json.loads(path.read_text())["repo_id"] if path.is_file() else None


def card_license(folder: Path) -> str | None:
    """The license a model folder's card states, if it has a card."""
    path = folder / CARD_FILE
    return (metadata_load(path) or {}).get("license") if path.is_file() else None


def _figure_table(rows: list[tuple[str, str]]) -> str:
    return "| figure | value |\n|---|---|\n" + "\n".join(f"| {name} | {value} |" for name, value in rows)


def cost_sections(costs: dict, title: str) -> str:
    """costs.json as two card sections: what was measured, then what was estimated (FLOPs extrapolated from the
    counted updates, energy, CO2) under a heading that says so. costs.json names each estimate `*_estimated*`."""
    rows = cost_table(costs)
    measured = [(name, value) for name, value in rows if "estimated" not in name]
    estimated = [(name, value) for name, value in rows if "estimated" in name]
    energy = costs.get("energy_estimate") or {}
    if not energy or energy.get("error"):
        energy_note = f"Energy and CO2 were not measured: {energy.get('error', 'no energy_estimate in costs.json')}."
    else:
        energy_note = (
            f"Energy and CO2 are estimated by {energy['source']} ({energy['tracking_mode']} mode, "
            f"carbon intensity of {energy['country_iso_code']})."
        )
    notes = "\n".join(f"- **{name}**: {text}" for name, text in (costs.get("notes") or {}).items())
    return f"""## {title}: measured

Figures of `costs.json` (schema {costs.get("schema_version", "unknown")}) that were measured or counted.

{_figure_table(measured)}

## {title}: estimates

Figures of `costs.json` that are estimates, not measurements. Total FLOPs are extrapolated per audio second
from the updates whose FLOPs were counted. {energy_note}

{_figure_table(estimated)}

{notes}
"""


def pretraining_card(run_config: dict, costs: dict, repo_id: str | None, eval_metrics: dict | None = None) -> ModelCard:
    """States how the checkpoint was trained and what it cost, with the numbers of costs.json. repo_id: the Hub
    repo the folder goes to, whose id the loading snippet names; None for a folder that stays local."""
    run_config = published_config(run_config)
    max_duration, crop_mode = run_config["max_duration"], run_config["crop_mode"]
    dataset_name = run_config.get("dataset_name")
    data = ModelCardData(
        license=run_config.get("license") or DEFAULT_LICENSE,
        library_name="transformers",
        pipeline_tag=PIPELINE_TAG,
        tags=TAGS,
        base_model=base_model_name(run_config.get("model_name_or_path")),  # continued pre-training
        datasets=hub_datasets(dataset_name),
        model_name=f"wav2vec 2.0 pre-trained on {max_duration:g} s crops",
        co2_eq_emissions=co2_eq_emissions(costs),
    )
    validation = ""
    if eval_metrics:
        rows = "\n".join(f"| {name} | {value:.4f} |" for name, value in eval_metrics.items())
        validation = (
            f"\n## Validation (contrastive task, at the end of training)\n\n| metric | value |\n|---|---|\n{rows}\n"
        )
    model_id = repo_id or run_config["output_dir"]
    where = "" if repo_id else "# this card's folder; `hf-seqlen push` writes the Hub repo id here\n"
    content = f"""---
{data.to_yaml()}
---

# wav2vec 2.0 pre-trained on {max_duration:g} s crops

Self-supervised wav2vec 2.0 pre-training (`Wav2Vec2ForPreTraining`) on audio cropped to at most
**{max_duration:g} s** (crop mode: **{crop_mode}**) of {describe_data(dataset_name, run_config.get("data_dir"))},
with hf_seqlen.
{card_warning(costs)}
{cost_sections(costs, "Cost")}{validation}
## Use

```python
from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

{where}model = Wav2Vec2Model.from_pretrained("{model_id}")
feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained("{model_id}")
```

## Training configuration

```json
{json.dumps(run_config, indent=2, default=str)}
```
"""
    return ModelCard(content)


def write_run_config(output_dir: Path, run_config: dict) -> None:
    (output_dir / RUN_CONFIG_FILE).write_text(json.dumps(published_config(run_config), indent=2, default=str) + "\n")


def save_release(
    output_dir: Path,
    model,
    feature_extractor,
    run_config: dict,
    costs: dict,
    repo_id: str | None,
    eval_metrics: dict | None = None,
) -> None:
    """Write what is published: weights, feature extractor, configuration, costs.json, model card.
    repo_id: the Hub repo the folder is pushed to, None while it is not."""
    model.save_pretrained(output_dir)
    feature_extractor.save_pretrained(output_dir)
    write_run_config(output_dir, run_config)
    write_costs(costs, output_dir)
    eval_path = output_dir / EVAL_RESULTS_FILE
    if eval_metrics is not None:
        eval_path.write_text(json.dumps(eval_metrics, indent=2) + "\n")
    else:
        eval_path.unlink(missing_ok=True)  # an earlier run's result would not describe these weights
    pretraining_card(run_config, costs, repo_id, eval_metrics).save(output_dir / CARD_FILE)


def with_section(card: str, section: str) -> str:
    """The card with the section (its first line is its heading) replaced, or appended: never twice."""
    heading = section.split("\n", 1)[0]
    before = card.split(heading)[0].rstrip("\n")
    return f"{before}\n\n{section}"


def restore_section(card: Path) -> None:
    """Put the section kept in SECTION_FILE beside the card back into a rewritten card."""
    saved = card.parent / SECTION_FILE
    if saved.is_file():
        card.write_text(with_section(card.read_text(), saved.read_text()))


def refresh_card(output_dir: Path, repo_id: str) -> Path:
    """Rewrite the model card from the files of a finished run, with the loading snippet naming repo_id, and the
    run's configuration file as published files state it (no paths of this machine)."""
    missing = [name for name in (COSTS_FILE, RUN_CONFIG_FILE, "config.json") if not (output_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{output_dir} is not a finished pre-training output: {', '.join(missing)} missing. "
            "Point at the --output_dir of a run that ended, or finish it with --resume_from_checkpoint latest."
        )
    eval_path = output_dir / EVAL_RESULTS_FILE
    run_config = json.loads((output_dir / RUN_CONFIG_FILE).read_text())
    write_run_config(output_dir, run_config)
    card = pretraining_card(
        run_config,
        json.loads((output_dir / COSTS_FILE).read_text()),
        repo_id,
        json.loads(eval_path.read_text()) if eval_path.is_file() else None,
    )
    card.save(output_dir / CARD_FILE)
    restore_section(output_dir / CARD_FILE)  # a sweep's comparison outlives a rewritten card
    return output_dir / CARD_FILE
