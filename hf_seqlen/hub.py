"""What an output folder publishes: the model, its costs.json and a model card made from them."""

from __future__ import annotations

import json
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

from .costs import cost_table, round_figure, write_costs
from .data import describe_source

TAGS = ["wav2vec2", "self-supervised-learning", "audio", "hf-seqlen"]
CARD_FILE = "README.md"
COSTS_FILE = "costs.json"
RUN_CONFIG_FILE = "pretraining_args.json"
EVAL_RESULTS_FILE = "eval_results.json"
SECRET_ARGUMENTS = ("hub_token",)


def without_secrets(run_config: dict) -> dict:
    """The configuration as it may be written to disk, logged or published."""
    return {k: "<redacted>" if k in SECRET_ARGUMENTS and v else v for k, v in run_config.items()}


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


def pretraining_card(run_config: dict, costs: dict, model_id: str, eval_metrics: dict | None = None) -> ModelCard:
    """States how the checkpoint was trained and what it cost, with the numbers of costs.json."""
    max_duration, crop_mode = run_config["max_duration"], run_config["crop_mode"]
    dataset_name = run_config.get("dataset_name")
    data = ModelCardData(
        library_name="transformers",
        tags=TAGS,
        datasets=[dataset_name] if dataset_name else None,
        model_name=f"wav2vec 2.0 pre-trained on {max_duration:g} s crops",
        co2_eq_emissions=co2_eq_emissions(costs),
    )
    cost_rows = "\n".join(f"| {name} | {value} |" for name, value in cost_table(costs))
    energy = costs["energy_estimate"]
    energy_note = (f"Energy and CO2 are estimates by {energy['source']} ({energy['tracking_mode']} mode, "
                   f"carbon intensity of {energy['country_iso_code']})."
                   if not energy.get("error") else f"Energy and CO2 were not measured: {energy['error']}.")
    notes = "\n".join(f"- **{name}**: {text}" for name, text in costs["notes"].items())
    validation = ""
    if eval_metrics:
        rows = "\n".join(f"| {name} | {value:.4f} |" for name, value in eval_metrics.items())
        validation = ("\n## Validation (contrastive task, at the end of training)\n\n"
                      f"| metric | value |\n|---|---|\n{rows}\n")
    content = f"""---
{data.to_yaml()}
---

# wav2vec 2.0 pre-trained on {max_duration:g} s crops

Self-supervised wav2vec 2.0 pre-training (`Wav2Vec2ForPreTraining`) on audio cropped to at most
**{max_duration:g} s** (crop mode: **{crop_mode}**) of {describe_source(dataset_name, run_config.get("data_dir"))},
with hf_seqlen.

## Cost (measured)

The same figures as `costs.json` (schema {costs["schema_version"]}). {energy_note}

| figure | value |
|---|---|
{cost_rows}

{notes}
{validation}
## Use

```python
from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

model = Wav2Vec2Model.from_pretrained("{model_id}")
feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained("{model_id}")
```

## Training configuration

```json
{json.dumps(without_secrets(run_config), indent=2, default=str)}
```
"""
    return ModelCard(content)


def save_release(output_dir: Path, model, feature_extractor, run_config: dict, costs: dict, model_id: str,
                 eval_metrics: dict | None = None) -> None:
    """Write what is published: weights, feature extractor, configuration, costs.json, model card."""
    model.save_pretrained(output_dir)
    feature_extractor.save_pretrained(output_dir)
    (output_dir / RUN_CONFIG_FILE).write_text(json.dumps(without_secrets(run_config), indent=2, default=str) + "\n")
    write_costs(costs, output_dir)
    eval_path = output_dir / EVAL_RESULTS_FILE
    if eval_metrics is not None:
        eval_path.write_text(json.dumps(eval_metrics, indent=2) + "\n")
    else:
        eval_path.unlink(missing_ok=True)  # an earlier run's result would not describe these weights
    pretraining_card(run_config, costs, model_id, eval_metrics).save(output_dir / CARD_FILE)


def refresh_card(output_dir: Path, model_id: str) -> Path:
    """Rewrite the model card from the files of a finished run, with the loading snippet naming model_id."""
    missing = [name for name in (COSTS_FILE, RUN_CONFIG_FILE, "config.json") if not (output_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{output_dir} is not a finished pre-training output: {', '.join(missing)} missing. "
            "Point at the --output_dir of a run that ended, or finish it with --resume_from_checkpoint latest."
        )
    eval_path = output_dir / EVAL_RESULTS_FILE
    card = pretraining_card(
        json.loads((output_dir / RUN_CONFIG_FILE).read_text()),
        json.loads((output_dir / COSTS_FILE).read_text()),
        model_id,
        json.loads(eval_path.read_text()) if eval_path.is_file() else None,
    )
    card.save(output_dir / CARD_FILE)
    from .study_card import restore_section  # a sweep's comparison outlives a rewritten card

    restore_section(output_dir / CARD_FILE)
    return output_dir / CARD_FILE
