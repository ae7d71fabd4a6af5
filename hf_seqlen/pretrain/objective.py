"""wav2vec 2.0's pre-training objective, computed from `Wav2Vec2ForPreTraining`'s outputs as transformers computes
it: each masked frame's context against its quantized target and its distractors (the contrastive loss, a sum over
masked frames), plus the codebook's diversity term.

The loop calls the model without distractors and computes the loss here, so that no step of it makes the host wait
for the device: transformers' forward asks `if neg_is_pos.any()` before masking a distractor that equals its target,
which holds the host until the whole forward pass has run; here that distractor is masked with no question asked.
The figures are the same (tests/unit/test_objective.py). Under `--mixed_precision bf16` the logits are kept in float32,
since Accelerate hands the model's outputs back in float32; transformers rounds them to bf16."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import Wav2Vec2ForPreTraining

from .collate import model_inputs


@dataclass
class PretrainingOutputs:
    """The model's outputs and the objective's three sums over the batch's masked frames."""

    model: object  # Wav2Vec2ForPreTrainingOutput, its own loss left out
    loss: torch.Tensor
    contrastive_loss: torch.Tensor
    diversity_loss: torch.Tensor

    @property
    def codevector_perplexity(self) -> torch.Tensor:
        return self.model.codevector_perplexity


def contrastive_logits(outputs, negative_indices: torch.Tensor, temperature: float) -> torch.Tensor:
    """(1 + distractors, batch, frames): the target's similarity first, then each distractor's. A distractor
    identical to its target is no distractor (a collapsing codebook gives many): it scores -inf."""
    quantized = outputs.projected_quantized_states
    batch_size, frames, dim = quantized.shape
    negatives = quantized.reshape(-1, dim)[negative_indices.reshape(-1)]
    negatives = negatives.reshape(batch_size, frames, -1, dim).permute(2, 0, 1, 3)
    logits = Wav2Vec2ForPreTraining.compute_contrastive_logits(
        quantized[None], negatives, outputs.projected_states, temperature
    )
    same_as_target = (quantized[None] == negatives).all(-1)
    return torch.cat([logits[:1], logits[1:].masked_fill(same_as_target, float("-inf"))])


def forward(model: torch.nn.Module, batch: dict, device: torch.device) -> PretrainingOutputs:
    """The model on a collated batch, and its loss. A batch without padding goes without its attention mask, which
    is then all ones and changes nothing but makes transformers ask the device whether every frame is real."""
    inputs = model_inputs(batch, device)
    negative_indices = inputs.pop("sampled_negative_indices")
    if not batch["padded"]:
        inputs.pop("attention_mask", None)
    outputs = model(**inputs)
    config = getattr(model, "module", model).config  # DDP keeps the model's config inside
    mask = inputs["mask_time_indices"]
    logits = contrastive_logits(outputs, negative_indices, config.contrastive_logits_temperature)
    logits = logits.transpose(0, 2).reshape(-1, logits.size(0))
    target = ((1 - mask.long()) * -100).transpose(0, 1).flatten()  # only masked frames are scored
    contrastive = torch.nn.functional.cross_entropy(logits.float(), target, reduction="sum")
    codevectors = config.num_codevectors_per_group * config.num_codevector_groups
    diversity = (codevectors - outputs.codevector_perplexity) / codevectors * mask.sum()
    return PretrainingOutputs(outputs, contrastive + config.diversity_loss_weight * diversity, contrastive, diversity)
