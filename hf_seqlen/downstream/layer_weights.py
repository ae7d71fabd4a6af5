"""Loading a probe whose head reads a softmax-weighted sum of the upstream's layers, with those weights at SUPERB's
start.

transformers 5 builds a model on the meta device and re-initialises only what the model's `_init_weights`
knows; wav2vec 2.0's has no case for `layer_weights`, so a head loaded onto a pre-trained upstream holds
whatever memory held (values up to 1e34 seen), which locks the softmax onto one arbitrary layer with no
gradient to leave it. This module imports only torch, so a test can load it beside any transformers version.
"""

from __future__ import annotations

import torch
from torch import nn


def load_with_uniform_layer_weights(model_class, upstream: str, **from_pretrained_kwargs) -> nn.Module:
    """`model_class.from_pretrained(upstream, ...)`; layer weights the checkpoint did not hold start equal,
    softmax(1/L) over the L = layers + 1 hidden states, as SUPERB's and HuBERT's do."""
    model, loading = model_class.from_pretrained(upstream, output_loading_info=True, **from_pretrained_kwargs)
    if "layer_weights" in loading["missing_keys"]:
        with torch.no_grad():
            model.layer_weights.fill_(1.0 / model.layer_weights.numel())
    return model
