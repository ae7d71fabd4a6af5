"""Wav2Vec2ForCTC whose head reads a learnable softmax-weighted sum of all hidden layers (SUPERB probing),
through a linear layer alone, or a small convolutional or BiLSTM encoder before it.

transformers' Wav2Vec2ForSequenceClassification has this (`use_weighted_layer_sum`); Wav2Vec2ForCTC
has not. This file is saved beside the model (custom code, `auto_map`), so the folder loads with
`pipeline("automatic-speech-recognition", model=dir, trust_remote_code=True)`. It has its own
model_type, so loading it without trust_remote_code fails loudly instead of silently dropping the
layer weights. It imports only torch and transformers, as saved custom code must.

`ctc_head`: "linear" is the `lm_head` alone; "bilstm" is SUPERB's ASR downstream made small and
"conv" a cheaper stand-in for it on a CPU: adjacent frames are concatenated in groups of
`ctc_head_downsample` (fewer steps for the encoder and the CTC loss), then `ctc_head_num_layers`
layers of `ctc_head_hidden_size` (LSTM units per direction, or channels), then the `lm_head` over
characters. Neither lets the frames past an utterance's end reach its own, so a prediction does not
depend on the utterances that share its batch.
"""

import torch
from torch import nn
from transformers import Wav2Vec2Config, Wav2Vec2ForCTC
from transformers.modeling_outputs import CausalLMOutput

CTC_HEADS = ("linear", "bilstm", "conv")


class Wav2Vec2LayerSumConfig(Wav2Vec2Config):
    model_type = "wav2vec2-layer-sum"

    def __init__(
        self, ctc_head="linear", ctc_head_hidden_size=256, ctc_head_num_layers=2, ctc_head_downsample=1, **kwargs
    ):
        super().__init__(**kwargs)
        if ctc_head not in CTC_HEADS:
            raise ValueError(f"ctc_head must be one of {', '.join(CTC_HEADS)} (got {ctc_head!r})")
        self.ctc_head = ctc_head
        self.ctc_head_hidden_size = ctc_head_hidden_size
        self.ctc_head_num_layers = ctc_head_num_layers
        self.ctc_head_downsample = ctc_head_downsample


def group_frames(hidden, frames, size):
    """Concatenates `size` adjacent frames into one: [batch, frames, dim] -> [batch, frames // size, dim x size].
    An incomplete last group is dropped, for every utterance alike."""
    batch, length, dim = hidden.shape
    length -= length % size
    frames = torch.div(frames, size, rounding_mode="floor").clamp(min=1)
    return hidden[:, :length].reshape(batch, length // size, dim * size), frames


class BiLSTMEncoder(nn.Module):
    """Grouped frames through a bidirectional LSTM; padded frames are packed away."""

    def __init__(self, input_size, hidden_size, num_layers, downsample, dropout):
        super().__init__()
        self.downsample, self.output_size = downsample, 2 * hidden_size
        self.lstm = nn.LSTM(
            input_size * downsample,
            hidden_size,
            num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )

    def forward(self, hidden, frames):
        """hidden [batch, frames, size], frames [batch] -> [batch, frames // downsample, 2 x hidden], frames."""
        hidden, frames = group_frames(hidden, frames, self.downsample)
        packed = nn.utils.rnn.pack_padded_sequence(hidden, frames.cpu(), batch_first=True, enforce_sorted=False)
        output, _ = self.lstm(packed)
        output, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=hidden.shape[1])
        return output, frames


class ConvEncoder(nn.Module):
    """Grouped frames through 1-D convolutions (kernel 5, ReLU, dropout). Frames past an utterance's end are
    zeroed before every convolution, so it sees what it would see alone."""

    def __init__(self, input_size, hidden_size, num_layers, downsample, dropout):
        super().__init__()
        self.downsample, self.output_size = downsample, hidden_size
        sizes = [input_size * downsample] + [hidden_size] * num_layers
        self.convs = nn.ModuleList(nn.Conv1d(i, o, kernel_size=5, padding=2) for i, o in zip(sizes, sizes[1:]))
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden, frames):
        hidden, frames = group_frames(hidden, frames, self.downsample)
        is_real = torch.arange(hidden.shape[1], device=hidden.device)[None] < frames[:, None].to(hidden.device)
        hidden = hidden.transpose(1, 2)  # [batch, channels, frames]
        for conv in self.convs:
            hidden = self.dropout(nn.functional.relu(conv(hidden * is_real[:, None])))
        return hidden.transpose(1, 2), frames


SEQUENCE_HEADS = {"bilstm": BiLSTMEncoder, "conv": ConvEncoder}


class Wav2Vec2ForCTCWithLayerSum(Wav2Vec2ForCTC):
    config_class = Wav2Vec2LayerSumConfig
    accepts_loss_kwargs = False  # the CTC loss below is a mean per utterance; Trainer must not rescale it

    def __init__(self, config, target_lang=None):
        super().__init__(config, target_lang)
        layers = config.num_hidden_layers + 1  # the encoder's input and every layer's output
        self.layer_weights = nn.Parameter(torch.ones(layers) / layers)
        self.sequence_head = None
        if getattr(config, "ctc_head", "linear") != "linear":  # configs saved before the option read as linear
            self.sequence_head = SEQUENCE_HEADS[config.ctc_head](
                config.hidden_size,
                config.ctc_head_hidden_size,
                config.ctc_head_num_layers,
                config.ctc_head_downsample,
                config.final_dropout,
            )
            self.lm_head = nn.Linear(self.sequence_head.output_size, config.vocab_size)
            self.post_init()

    def forward(
        self,
        input_values,
        attention_mask=None,
        labels=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ):
        outputs = self.wav2vec2(
            input_values,
            attention_mask=attention_mask,
            output_attentions=output_attentions,
            output_hidden_states=True,
            return_dict=True,
        )
        loss, logits = self.layer_sum_head(
            torch.stack(outputs.hidden_states, dim=1), self._frames(input_values, attention_mask), labels
        )
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        result = CausalLMOutput(
            loss=loss,
            logits=logits,
            attentions=outputs.attentions,
            # Every layer was computed for the sum; Trainer would gather them all unless they were asked for.
            hidden_states=outputs.hidden_states if output_hidden_states else None,
        )
        return_dict = self.config.return_dict if return_dict is None else return_dict
        return result if return_dict else result.to_tuple()

    def layer_sum_head(self, layers, frames, labels=None):
        """The head on every layer's hidden states [batch, layers + 1, frames, hidden] of utterances of `frames`
        frames: (CTC loss or None, logits). Public so a head trained on cached hidden states runs the same code."""
        weights = nn.functional.softmax(self.layer_weights, dim=-1)
        hidden = self.dropout((layers * weights.view(-1, 1, 1)).sum(dim=1))
        if self.sequence_head is not None:
            hidden, frames = self.sequence_head(hidden, frames)
            hidden = self.dropout(hidden)
        logits = self.lm_head(hidden)
        return (None if labels is None else self.ctc_loss(logits, labels, frames)), logits

    def _frames(self, input_values, attention_mask):
        """Frames of each utterance: those of its unpadded samples when there is an attention mask."""
        samples = (
            attention_mask.sum(-1)
            if attention_mask is not None
            else torch.full((input_values.shape[0],), input_values.shape[-1], device=input_values.device)
        )
        return self._get_feat_extract_output_lengths(samples).to(torch.long)

    def ctc_loss(self, logits, labels, frames):
        """CTC over each utterance's `frames` with the padding token as blank; labels of -100 are padding (as
        Wav2Vec2ForCTC reads them)."""
        if labels.max() >= self.config.vocab_size:
            raise ValueError(f"label ids must be below vocab_size {self.config.vocab_size}")
        is_target = labels >= 0
        log_probs = nn.functional.log_softmax(logits, dim=-1, dtype=torch.float32).transpose(0, 1)
        return nn.functional.ctc_loss(
            log_probs,
            labels.masked_select(is_target),
            frames,
            is_target.sum(-1),
            blank=self.config.pad_token_id,
            reduction=self.config.ctc_loss_reduction,
            zero_infinity=self.config.ctc_zero_infinity,
        )
