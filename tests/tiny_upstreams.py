"""Randomly initialised tiny upstreams saved as run_pretrain.py saves them (model + feature extractor),
in the two encoder families of the published models: layer norm with an attention mask (LARGE,
wav2vec2-tiny) and group norm without one (BASE)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForPreTraining

from hf_seqlen.args import HUB_CONFIGS

# What makes BASE a group-norm model, on wav2vec2-tiny's sizes.
GROUP_NORM = {"feat_extract_norm": "group", "do_stable_layer_norm": False, "conv_bias": False}


def base_is_group_norm_without_attention_mask() -> bool:
    config = json.loads((HUB_CONFIGS / "wav2vec2-base" / "config.json").read_text())
    preprocessor = json.loads((HUB_CONFIGS / "wav2vec2-base" / "preprocessor_config.json").read_text())
    return all(config[key] == value for key, value in GROUP_NORM.items()) and not preprocessor["return_attention_mask"]


def tiny_config(group_norm: bool = False, **overrides) -> Wav2Vec2Config:
    return Wav2Vec2Config.from_pretrained(HUB_CONFIGS / "wav2vec2-tiny", **(GROUP_NORM if group_norm else {}), **overrides)


def save_upstream(folder: Path, group_norm: bool = False, seed: int = 0, **overrides) -> Path:
    torch.manual_seed(seed)
    Wav2Vec2ForPreTraining(tiny_config(group_norm, **overrides)).save_pretrained(folder)
    feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained(HUB_CONFIGS / "wav2vec2-tiny")
    feature_extractor.return_attention_mask = not group_norm
    feature_extractor.save_pretrained(folder)
    return folder
