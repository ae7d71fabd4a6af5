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
from transformers.modeling_outputs import CausalLMOutput


class Wav2Vec2LayerSumConfig(Wav2Vec2Config):
    model_type = "wav2vec2-layer-sum"


class Wav2Vec2ForCTCWithLayerSum(Wav2Vec2ForCTC):
    config_class = Wav2Vec2LayerSumConfig
    accepts_loss_kwargs = False  # the CTC loss below is a mean per utterance; Trainer must not rescale it

    def __init__(self, config, target_lang=None):
        super().__init__(config, target_lang)
        layers = config.num_hidden_layers + 1  # the encoder's input and every layer's output
        self.layer_weights = nn.Parameter(torch.ones(layers) / layers)

    def forward(self, input_values, attention_mask=None, labels=None, output_attentions=None,
                output_hidden_states=None, return_dict=None):
        outputs = self.wav2vec2(input_values, attention_mask=attention_mask, output_attentions=output_attentions,
                                output_hidden_states=True, return_dict=True)
        weights = nn.functional.softmax(self.layer_weights, dim=-1)
        layer_sum = (torch.stack(outputs.hidden_states, dim=1) * weights.view(-1, 1, 1)).sum(dim=1)
        logits = self.lm_head(self.dropout(layer_sum))
        loss = None if labels is None else self.ctc_loss(logits, labels, self._frames(input_values, attention_mask))
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        result = CausalLMOutput(
            loss=loss, logits=logits, attentions=outputs.attentions,
            # Every layer was computed for the sum; Trainer would gather them all unless they were asked for.
            hidden_states=outputs.hidden_states if output_hidden_states else None,
        )
        return_dict = self.config.return_dict if return_dict is None else return_dict
        return result if return_dict else result.to_tuple()

    def _frames(self, input_values, attention_mask):
        """Frames of each utterance: those of its unpadded samples when there is an attention mask."""
        samples = attention_mask.sum(-1) if attention_mask is not None else torch.full(
            (input_values.shape[0],), input_values.shape[-1], device=input_values.device)
        return self._get_feat_extract_output_lengths(samples).to(torch.long)

    def ctc_loss(self, logits, labels, frames):
        """CTC over each utterance's `frames` with the padding token as blank; labels of -100 are padding (as
        Wav2Vec2ForCTC reads them). Public so a head trained on cached hidden states computes the same loss."""
        if labels.max() >= self.config.vocab_size:
            raise ValueError(f"label ids must be below vocab_size {self.config.vocab_size}")
        is_target = labels >= 0
        log_probs = nn.functional.log_softmax(logits, dim=-1, dtype=torch.float32).transpose(0, 1)
        return nn.functional.ctc_loss(
            log_probs, labels.masked_select(is_target), frames, is_target.sum(-1),
            blank=self.config.pad_token_id, reduction=self.config.ctc_loss_reduction,
            zero_infinity=self.config.ctc_zero_infinity,
        )
