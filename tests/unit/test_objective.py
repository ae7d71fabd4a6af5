"""The pre-training objective computed outside the model (hf_seqlen/pretrain/objective.py) gives transformers' own
figures: the loss, its contrastive and diversity parts, and the gradient, with distractors that equal their target
too."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining

from hf_seqlen.corpus.audio import Crop
from hf_seqlen.pretrain.args import HUB_CONFIGS
from hf_seqlen.pretrain.collate import PretrainingCollator, model_inputs
from hf_seqlen.pretrain.loop import objective
from tiny_upstreams import tiny_config

RATE = 16000
CPU = torch.device("cpu")


def collated(config, seconds, attention_mask=True):
    rng = np.random.default_rng(0)
    samples = [
        {"crop": Crop(i, 0.0, s), "epoch": 0, "input_values": rng.standard_normal(int(s * RATE)).astype(np.float32)}
        for i, s in enumerate(seconds)
    ]
    return PretrainingCollator(config, RATE, return_attention_mask=attention_mask)(samples)


def figures(outputs):
    return [outputs.loss.item(), outputs.contrastive_loss.item(), outputs.diversity_loss.item()]


def transformers_figures(model, batch):
    torch.manual_seed(1)  # the quantizer's gumbel noise: the same draws in both
    return figures(model(**model_inputs(batch, CPU)))


def our_figures(model, batch):
    torch.manual_seed(1)
    return figures(objective.forward(model, batch, CPU))


@pytest.mark.parametrize("seconds", [(2.0, 2.0), (2.0, 1.3)], ids=["unpadded", "padded"])
@pytest.mark.parametrize("group_norm", [False, True], ids=["layer-norm", "group-norm-base-shaped"])
def test_the_loss_is_transformers_loss(seconds, group_norm):
    """wav2vec2-tiny, and BASE narrowed (group norm, layerdrop, trained without an attention mask as published)."""
    model = Wav2Vec2ForPreTraining(tiny_config(group_norm=group_norm)).train()
    batch = collated(model.config, seconds, attention_mask=not group_norm)
    assert batch["padded"] == (seconds[1] < seconds[0]) and ("attention_mask" in batch) == (not group_norm)
    assert our_figures(model, batch) == pytest.approx(transformers_figures(model, batch), rel=1e-6)


def test_a_distractor_equal_to_its_target_is_no_distractor():
    """A collapsed codebook quantizes every frame alike: every distractor equals its target and scores -inf."""
    model = Wav2Vec2ForPreTraining(Wav2Vec2Config.from_pretrained(HUB_CONFIGS / "wav2vec2-tiny")).train()
    with torch.no_grad():
        model.quantizer.codevectors.fill_(0.5)
    batch = collated(model.config, (2.0, 2.0))
    ours = our_figures(model, batch)
    assert ours[1] == pytest.approx(0.0, abs=1e-6)  # the target is the only candidate left
    assert ours == pytest.approx(transformers_figures(model, batch), rel=1e-6, abs=1e-6)


def test_the_gradient_is_transformers_gradient():
    config = Wav2Vec2Config.from_pretrained(HUB_CONFIGS / "wav2vec2-tiny", layerdrop=0.0)
    model = Wav2Vec2ForPreTraining(config).train()
    batch = collated(config, (2.0, 1.5))
    gradients = []
    for loss_of in (lambda: model(**model_inputs(batch, CPU)).loss, lambda: objective.forward(model, batch, CPU).loss):
        model.zero_grad()
        torch.manual_seed(1)
        loss_of().backward()
        gradients.append({name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None})
    assert gradients[0].keys() == gradients[1].keys()
    for name, gradient in gradients[0].items():
        torch.testing.assert_close(gradients[1][name], gradient, rtol=1e-5, atol=1e-7, msg=name)
