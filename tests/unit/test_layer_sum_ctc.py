"""The SUPERB probing head for CTC: its forward reads the weighted sum of the layers, its loss is CTC's,
and the upstream inside it stays an ordinary wav2vec 2.0 encoder."""

from __future__ import annotations

import pytest
import torch
from transformers import Wav2Vec2ForCTC, Wav2Vec2Model

from hf_seqlen.downstream.args import parse_args
from hf_seqlen.downstream.layer_sum_ctc import Wav2Vec2ForCTCWithLayerSum, Wav2Vec2LayerSumConfig
from hf_seqlen.option_parsing import UsageError
from tiny_upstreams import tiny_config

VOCAB = 8


def probe(group_norm: bool = False) -> Wav2Vec2ForCTCWithLayerSum:
    torch.manual_seed(0)
    config = Wav2Vec2LayerSumConfig(
        **tiny_config(group_norm, vocab_size=VOCAB, pad_token_id=VOCAB - 1, ctc_loss_reduction="mean").to_dict()
    )
    model = Wav2Vec2ForCTCWithLayerSum(config).eval()
    with torch.no_grad():
        model.layer_weights.copy_(torch.tensor([0.3, -1.0, 2.0]))  # uneven, so a wrong layer shows
    return model


def audio(batch: int = 2, seconds: float = 1.0) -> torch.Tensor:
    return torch.randn(batch, int(16000 * seconds), generator=torch.Generator().manual_seed(1))


def test_logits_read_the_softmax_weighted_sum_of_every_layer():
    model, x = probe(), audio()
    with torch.no_grad():
        layers = model.wav2vec2(x, output_hidden_states=True).hidden_states
        weights = torch.softmax(model.layer_weights, dim=-1)
        by_hand = model.lm_head(sum(w * h for w, h in zip(weights, layers)))
        out = model(x)
    assert len(layers) == model.config.num_hidden_layers + 1
    torch.testing.assert_close(out.logits, by_hand)
    assert out.hidden_states is None  # not asked for


def test_the_upstream_inside_the_probe_is_a_plain_encoder():
    """Calling model.wav2vec2 alone gives what a Wav2Vec2Model with its weights gives, not the head's sum."""
    model, x = probe(), audio()
    plain = Wav2Vec2Model(model.config).eval()
    plain.load_state_dict(model.wav2vec2.state_dict())
    with torch.no_grad():
        inside, alone = model.wav2vec2(x), plain(x)
    torch.testing.assert_close(inside.last_hidden_state, alone.last_hidden_state)
    assert inside.hidden_states is None


def test_tuple_outputs_and_hidden_states_on_request():
    model, x = probe(), audio()
    with torch.no_grad():
        as_dict = model(x, output_hidden_states=True)
        as_tuple = model(x, output_hidden_states=True, return_dict=False)
    assert len(as_dict.hidden_states) == model.config.num_hidden_layers + 1
    torch.testing.assert_close(as_tuple[0], as_dict.logits)
    torch.testing.assert_close(as_tuple[1][-1], as_dict.hidden_states[-1])


def test_all_weight_on_the_last_layer_is_wav2vec2_for_ctc_loss_and_logits():
    """In a post-norm (BASE-like) encoder the last hidden state is the last layer's output."""
    model, x = probe(group_norm=True), audio(seconds=1.3)
    with torch.no_grad():
        model.layer_weights.copy_(torch.tensor([-1e4, -1e4, 0.0]))
    plain = Wav2Vec2ForCTC(model.config).eval()
    plain.load_state_dict(model.state_dict(), strict=False)
    attention_mask = torch.ones_like(x, dtype=torch.long)
    attention_mask[1, 16000:] = 0  # the second utterance is padded
    labels = torch.tensor([[1, 2, 3, 2], [4, 5, -100, -100]])
    with torch.no_grad():
        ours = model(x, attention_mask=attention_mask, labels=labels)
        theirs = plain(x, attention_mask=attention_mask, labels=labels)
    torch.testing.assert_close(ours.logits, theirs.logits)
    torch.testing.assert_close(ours.loss, theirs.loss)


@pytest.mark.parametrize("option", ["--ctc_head_hidden_size", "--ctc_head_num_layers", "--ctc_head_downsample"])
def test_a_head_size_below_one_is_refused_in_one_line(option, tmp_path):
    with pytest.raises(UsageError, match=f"^{option} must be a whole number >= 1 \\(got 0\\)\\.$"):
        parse_args(["--task", "asr", "--model_name_or_path", "x", "--output_dir", str(tmp_path), option, "0"])


def test_a_config_saved_before_the_head_option_reads_as_the_linear_head():
    config = Wav2Vec2LayerSumConfig.from_dict(
        {k: v for k, v in probe().config.to_dict().items() if not k.startswith("ctc_head")}
    )
    assert config.ctc_head == "linear" and Wav2Vec2ForCTCWithLayerSum(config).sequence_head is None
