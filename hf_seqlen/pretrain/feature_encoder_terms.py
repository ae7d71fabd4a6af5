"""Two parts of fairseq's wav2vec 2.0 recipe that transformers' Wav2Vec2ForPreTraining lacks, both acting
on the feature encoder's output (its last convolution, before the feature projection's layer norm):

- the gradient into the feature encoder multiplied by `feature_grad_mult` (fairseq BASE and LARGE: 0.1),
  so the convolutions learn more slowly than the layers above them;
- an L2 penalty, the mean square of that output, added to the loss with `feature_penalty_weight`
  (fairseq: 10) times the batch's masked frames, since the loss is a sum over masked frames. As in
  fairseq, it is taken after the multiplier: its gradient into the encoder is scaled by `feature_grad_mult`
  too, so with 0.1 and 10 the penalty pushes the convolutions a tenth as hard as with 1.0 and 10.

Off by default (1.0 and 0), as in transformers' example; docs/pretraining-objective.md measures both.
"""

from __future__ import annotations

import torch
from torch import nn


class _ScaledGradient(torch.autograd.Function):
    """The identity forward; the gradient multiplied by `scale` backward."""

    @staticmethod
    def forward(ctx, features: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return features.view_as(features)

    @staticmethod
    def backward(ctx, gradient: torch.Tensor) -> tuple[torch.Tensor, None]:
        return gradient * ctx.scale, None


class FeatureEncoderTerms:
    """Hooks a model's feature encoder when either term is on; a model without them is left untouched."""

    def __init__(self, model: nn.Module, grad_mult: float, penalty_weight: float):
        self.grad_mult, self.penalty_weight = grad_mult, penalty_weight
        self._penalty: torch.Tensor | None = None
        if grad_mult != 1.0 or penalty_weight:
            model.wav2vec2.feature_extractor.register_forward_hook(self._on_features)

    def _on_features(self, module: nn.Module, inputs: tuple, features: torch.Tensor) -> torch.Tensor:
        # The penalty is taken after the multiplier, as fairseq takes it: its value is the same, and its
        # gradient into the convolutions is scaled by `grad_mult` like the rest of the loss's.
        if self.grad_mult != 1.0:
            features = _ScaledGradient.apply(features, self.grad_mult)
        if self.penalty_weight:
            self._penalty = features.float().pow(2).mean()
        return features

    def penalty(self, masked_frames: int) -> torch.Tensor | None:
        """The penalty of the batch just forwarded, on the loss's scale (a sum over its masked frames);
        None when the penalty is off, so that the step adds nothing."""
        if not self.penalty_weight:
            return None
        penalty, self._penalty = self._penalty, None
        return self.penalty_weight * masked_frames * penalty
