"""One update's options, model, batch and gradients, built alike by the tests that compare an update across
options, kernels and process counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining

from hf_seqlen.corpus.audio import Crop
from hf_seqlen.pretrain.args import HUB_CONFIGS
from hf_seqlen.pretrain.collate import PretrainingCollator, model_inputs
from tiny_upstreams import base_shaped_config


def update_options(config: Path, output_dir: Path, accumulation: int) -> list[str]:
    """One update of --gradient_accumulation_steps batches of 4 crops per process."""
    return [
        "--config_name",
        str(config),
        "--output_dir",
        str(output_dir),
        "--max_duration",
        "1",
        "--per_device_train_batch_size",
        "4",
        "--gradient_accumulation_steps",
        str(accumulation),
        "--max_train_steps",
        "1",
        "--max_eval_samples",
        "8",
        "--seed",
        "0",
    ]


def without_dropout(folder: Path) -> Path:
    """A BASE-shaped config whose model in train mode is deterministic, but for the quantizer's noise."""
    dropouts = (
        "hidden_dropout",
        "attention_dropout",
        "activation_dropout",
        "feat_proj_dropout",
        "feat_quantizer_dropout",
    )
    return base_shaped_config(folder, layerdrop=0.0, **dict.fromkeys(dropouts, 0.0))


RATE = 16000


def batch_of(config, seconds=(2.0, 1.6, 1.1)):
    rng = np.random.default_rng(0)
    samples = [
        {"crop": Crop(i, 0.0, s), "epoch": 0, "input_values": rng.standard_normal(int(s * RATE)).astype(np.float32)}
        for i, s in enumerate(seconds)
    ]
    return model_inputs(PretrainingCollator(config, RATE)(samples), torch.device("cpu"))


def model_of(seed=0, **config_options):
    torch.manual_seed(seed)
    return Wav2Vec2ForPreTraining(Wav2Vec2Config.from_pretrained(HUB_CONFIGS / "wav2vec2-tiny", **config_options))


def loss_and_gradients(model, batch, seed=1):
    torch.manual_seed(seed)  # dropout and the quantizer's gumbel noise draw the same numbers in both arms
    loss = model(**batch).loss
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
