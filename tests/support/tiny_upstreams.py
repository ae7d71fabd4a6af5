"""Model configs as small as a CPU test needs, in the two encoder families of the published models:
layer norm with an attention mask (wav2vec2-tiny, as LARGE) and group norm without one (BASE as users
pre-train it: layerdrop, the published objective), only narrowed and made shallow."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForPreTraining

from hf_seqlen.pretrain.args import HUB_CONFIGS

BASE_NARROWED = dict(
    conv_dim=[32] * 7,
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=128,
    num_conv_pos_embeddings=16,
    codevector_dim=32,
    proj_codevector_dim=32,
)


def tiny_config(group_norm: bool = False, **overrides) -> Wav2Vec2Config:
    """wav2vec2-tiny, or with `group_norm` BASE narrowed: everything else as BASE has it."""
    if group_norm:
        return Wav2Vec2Config.from_pretrained(HUB_CONFIGS / "wav2vec2-base", **{**BASE_NARROWED, **overrides})
    return Wav2Vec2Config.from_pretrained(HUB_CONFIGS / "wav2vec2-tiny", **overrides)


def base_shaped_config(folder: Path, **overrides) -> Path:
    """A config folder for `--config_name`: BASE narrowed, with BASE's feature extractor (no attention mask)."""
    tiny_config(group_norm=True, **overrides).save_pretrained(folder)
    shutil.copy(HUB_CONFIGS / "wav2vec2-base" / "preprocessor_config.json", folder)
    return folder


def save_upstream(folder: Path, group_norm: bool = False, seed: int = 0, **overrides) -> Path:
    """A randomly initialised upstream saved as run_pretrain.py saves one (model + feature extractor)."""
    torch.manual_seed(seed)
    Wav2Vec2ForPreTraining(tiny_config(group_norm, **overrides)).save_pretrained(folder)
    family = "wav2vec2-base" if group_norm else "wav2vec2-tiny"
    Wav2Vec2FeatureExtractor.from_pretrained(HUB_CONFIGS / family).save_pretrained(folder)
    return folder
