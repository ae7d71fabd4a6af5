"""Wav2Vec2ForCTC whose head reads a learnable softmax-weighted sum of all hidden layers (SUPERB probing).

transformers' Wav2Vec2ForSequenceClassification has this (`use_weighted_layer_sum`); Wav2Vec2ForCTC
has not. This file is saved beside the model (custom code, `auto_map`), so the folder loads with
`pipeline("automatic-speech-recognition", model=dir, trust_remote_code=True)`. It has its own
model_type, so loading it without trust_remote_code fails loudly instead of silently dropping the
layer weights. It imports only torch and transformers, as saved custom code must.
"""

import torch
from torch import nn
from transformers import Wav2Vec2Config, Wav2Vec2ForCTC


class Wav2Vec2LayerSumConfig(Wav2Vec2Config):
    model_type = "wav2vec2-layer-sum"


class Wav2Vec2ForCTCWithLayerSum(Wav2Vec2ForCTC):
    config_class = Wav2Vec2LayerSumConfig

    def __init__(self, config, target_lang=None):
        super().__init__(config, target_lang)
        layers = config.num_hidden_layers + 1  # the encoder's input and every layer's output
        self.layer_weights = nn.Parameter(torch.ones(layers) / layers)
        # Wav2Vec2ForCTC's forward reads `last_hidden_state`: the hooks ask for every layer and put the sum there.
        self.wav2vec2.register_forward_pre_hook(self._request_hidden_states, with_kwargs=True)
        self.wav2vec2.register_forward_hook(self._weighted_layer_sum)

    def _request_hidden_states(self, module, args, kwargs):
        self._caller_wants_hidden_states = kwargs.get("output_hidden_states") or self.config.output_hidden_states
        return args, {**kwargs, "output_hidden_states": True}

    def _weighted_layer_sum(self, module, args, outputs):
        weights = nn.functional.softmax(self.layer_weights, dim=-1)
        stacked = torch.stack(outputs.hidden_states, dim=1)
        outputs.last_hidden_state = (stacked * weights.view(-1, 1, 1)).sum(dim=1)
        if not self._caller_wants_hidden_states:  # Trainer would otherwise gather every layer at evaluation
            outputs.hidden_states = None
        return outputs
