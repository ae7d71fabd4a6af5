"""Model cards for pre-trained checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

TAGS = ["wav2vec2", "self-supervised-learning", "audio", "hf-seqlen"]


def pretraining_card(
    output_dir: Path, run_config: dict, costs: dict, hub_dataset: str | None, dataset: str
) -> ModelCard:
    """A card that states how the checkpoint was trained and what it cost, with the measured numbers."""
    data = ModelCardData(library_name="transformers", tags=TAGS, datasets=[hub_dataset] if hub_dataset else None)
    max_duration = run_config["max_duration"]
    cost_rows = "\n".join(f"| {name} | {value:.6g} |" if isinstance(value, float) else f"| {name} | {value} |"
                          for name, value in costs.items())
    content = f"""---
{data.to_yaml()}
---

# wav2vec 2.0 pre-trained on {max_duration:g} s crops

Self-supervised wav2vec 2.0 pre-training on audio cropped to at most **{max_duration:g} s**
({run_config["crop_mode"]} crops) of {dataset}, with hf_seqlen.

## Cost (measured)

| figure | value |
|---|---|
{cost_rows}

## Use

```python
from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

model = Wav2Vec2Model.from_pretrained("{output_dir}")
feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained("{output_dir}")
```

## Training configuration

```json
{json.dumps(run_config, indent=2, default=str)}
```
"""
    return ModelCard(content)
