"""fairseq's feature-encoder gradient multiplier and feature penalty, which transformers' model lacks:
what each does to one update of wav2vec2 BASE narrowed (group norm), and a real run with both."""

from __future__ import annotations

import pytest
import torch
from transformers import Wav2Vec2ForPreTraining

from helpers import assert_gradients_close
from hf_seqlen.cli import pretrain_main
from hf_seqlen.pretrain.feature_encoder_terms import FeatureEncoderTerms
from one_update import batch_of, loss_and_gradients
from tiny_upstreams import tiny_config

# Without dropout and layerdrop, two copies of the model see exactly the same forward.
DETERMINISTIC = dict(
    hidden_dropout=0.0,
    attention_dropout=0.0,
    activation_dropout=0.0,
    feat_proj_dropout=0.0,
    feat_quantizer_dropout=0.0,
    layerdrop=0.0,
)


def base_narrowed(**terms) -> tuple[Wav2Vec2ForPreTraining, FeatureEncoderTerms]:
    torch.manual_seed(0)
    model = Wav2Vec2ForPreTraining(tiny_config(group_norm=True, **DETERMINISTIC)).train()
    return model, FeatureEncoderTerms(model, **{"grad_mult": 1.0, "penalty_weight": 0.0, **terms})


def is_feature_encoder(name: str) -> bool:
    return name.startswith("wav2vec2.feature_extractor.")


def test_the_defaults_leave_the_model_untouched():
    model, _ = base_narrowed()
    assert not model.wav2vec2.feature_extractor._forward_hooks


def test_the_gradient_multiplier_scales_only_the_feature_encoders_gradient():
    plain, _ = base_narrowed()
    scaled, _ = base_narrowed(grad_mult=0.1)
    batch = batch_of(plain.config)
    loss, gradients = loss_and_gradients(plain, batch)
    loss_scaled, gradients_scaled = loss_and_gradients(scaled, batch)
    assert loss_scaled.item() == loss.item()  # the forward is the identity
    encoder = {name: 0.1 * g for name, g in gradients.items() if is_feature_encoder(name)}
    assert len(encoder) >= 7  # every convolution, and the group norm of the first
    assert_gradients_close({n: g for n, g in gradients_scaled.items() if is_feature_encoder(n)}, encoder)
    assert_gradients_close(
        {n: g for n, g in gradients_scaled.items() if not is_feature_encoder(n)},
        {n: g for n, g in gradients.items() if not is_feature_encoder(n)},
    )


def test_the_penalty_is_the_mean_square_of_the_encoder_output_per_masked_frame():
    model, terms = base_narrowed(penalty_weight=10.0)
    batch = batch_of(model.config)
    model(**batch)
    features = model.wav2vec2.feature_extractor(batch["input_values"])  # the hook stores the same value again
    masked_frames = int(batch["mask_time_indices"].sum())
    assert terms.penalty(masked_frames).item() == pytest.approx(10.0 * masked_frames * features.pow(2).mean().item())


def test_the_penalty_is_taken_after_the_gradient_multiplier():
    """As in fairseq, the penalty's gradient into the convolutions is scaled by the multiplier; its value is not."""

    def penalty_and_first_convolution_gradient(grad_mult: float) -> tuple[float, torch.Tensor]:
        torch.manual_seed(0)
        model = Wav2Vec2ForPreTraining(tiny_config(**DETERMINISTIC)).train()
        terms = FeatureEncoderTerms(model, grad_mult=grad_mult, penalty_weight=10.0)
        batch = batch_of(model.config)
        model(**batch)
        penalty = terms.penalty(int(batch["mask_time_indices"].sum()))
        penalty.backward()  # the penalty alone
        return penalty.item(), model.wav2vec2.feature_extractor.conv_layers[0].conv.weight.grad

    penalty, gradient = penalty_and_first_convolution_gradient(1.0)
    penalty_scaled, gradient_scaled = penalty_and_first_convolution_gradient(0.1)
    assert gradient.abs().max() > 0
    assert penalty_scaled == pytest.approx(penalty, rel=1e-6)
    torch.testing.assert_close(gradient_scaled, 0.1 * gradient, rtol=1e-4, atol=1e-5 * gradient.abs().max().item())


@pytest.mark.parametrize("option", ["--feature_grad_mult", "--feature_penalty_weight"])
def test_a_negative_term_is_refused_in_one_line(option, tmp_path, capsys):
    assert pretrain_main([option, "-1", "--output_dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hf_seqlen error: ") and "must be >= 0" in err and "\n" not in err
