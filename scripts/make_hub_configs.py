"""Write the Hub-format model configs in hf_seqlen/hub_configs/ (config.json + preprocessor_config.json).

They ship inside the package (package data), so `--config_name wav2vec2-tiny` resolves after any
`pip install`; the top-level hub_configs/ is a link to the same folder.

BASE and LARGE follow the published wav2vec 2.0 pre-training recipes (Baevski et al., 2020:
fairseq `wav2vec2_base_librispeech` and `wav2vec2_large_librivox`); TINY and SMALL keep the
recipe's objective and masking but shrink the network so it trains on a CPU or an edge device.

    python scripts/make_hub_configs.py
"""

from pathlib import Path

from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor

HUB_CONFIGS = Path(__file__).resolve().parent.parent / "hf_seqlen" / "hub_configs"

# What every pre-training config shares: the contrastive task of the paper.
PRETRAINING_OBJECTIVE = dict(
    mask_time_prob=0.65,  # the recipe's p: 65% of frames start a span...
    mask_time_length=10,  # ...of 10 frames (about half of all frames end up masked)
    num_negatives=100,
    contrastive_logits_temperature=0.1,
    diversity_loss_weight=0.1,
    num_codevector_groups=2,
    num_codevectors_per_group=320,
    feat_quantizer_dropout=0.1,
    architectures=["Wav2Vec2ForPreTraining"],
)

# The seven-layer convolutional feature encoder: 20 ms frames at 16 kHz (stride 320).
FEATURE_ENCODER = dict(
    conv_kernel=[10, 3, 3, 3, 3, 2, 2],
    conv_stride=[5, 2, 2, 2, 2, 2, 2],
)

# wav2vec 2.0 BASE (95M), LibriSpeech 960 h recipe.
BASE = dict(
    conv_dim=[512] * 7,
    conv_bias=False,
    feat_extract_norm="group",
    do_stable_layer_norm=False,
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    num_conv_pos_embeddings=128,
    num_conv_pos_embedding_groups=16,
    codevector_dim=256,
    proj_codevector_dim=256,
    hidden_dropout=0.1,
    attention_dropout=0.1,
    activation_dropout=0.0,
    feat_proj_dropout=0.1,
    layerdrop=0.05,
)

# The encoder the published LARGE-LV60 model uses: a layer-norm feature encoder with conv biases and a pre-LN
# Transformer. The transformers pre-training example accepts only this kind (a group-norm encoder has no attention
# mask, so it would mask, draw distractors from and score padded frames).
STABLE_LAYER_NORM = dict(conv_bias=True, feat_extract_norm="layer", do_stable_layer_norm=True)

CONFIGS = {
    # Minutes on two CPU cores; what the tests and the demo use.
    "wav2vec2-tiny": dict(
        conv_dim=[32] * 7,
        conv_bias=True,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        num_conv_pos_embeddings=32,
        num_conv_pos_embedding_groups=4,
        codevector_dim=64,
        proj_codevector_dim=64,
        num_codevectors_per_group=32,
        num_negatives=20,
        layerdrop=0.0,
    ),
    # About 6M parameters: sized for phones and edge devices.
    "wav2vec2-small": dict(
        conv_dim=[256] * 7,
        conv_bias=True,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        hidden_size=256,
        num_hidden_layers=6,
        num_attention_heads=4,
        intermediate_size=1024,
        num_conv_pos_embeddings=64,
        num_conv_pos_embedding_groups=16,
        codevector_dim=128,
        proj_codevector_dim=128,
        layerdrop=0.05,
    ),
    "wav2vec2-base": BASE,
    # BASE with the layer-norm encoder: what the transformers example can pre-train at BASE size.
    "wav2vec2-base-layernorm": {**BASE, **STABLE_LAYER_NORM},
    # wav2vec 2.0 LARGE (317M), LibriVox LV-60k recipe: pre-LN Transformer, layer-norm encoder.
    "wav2vec2-large": dict(
        conv_dim=[512] * 7,
        conv_bias=True,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=4096,
        num_conv_pos_embeddings=128,
        num_conv_pos_embedding_groups=16,
        codevector_dim=768,
        proj_codevector_dim=768,
        hidden_dropout=0.0,
        attention_dropout=0.1,
        activation_dropout=0.0,
        feat_proj_dropout=0.1,
        layerdrop=0.0,
    ),
}


def write_config(name: str, overrides: dict) -> None:
    folder = HUB_CONFIGS / name
    config = Wav2Vec2Config(**{**PRETRAINING_OBJECTIVE, **FEATURE_ENCODER, **overrides})
    config.save_pretrained(folder)
    # Group-norm encoders are trained without an attention mask on zero padding (as published);
    # layer-norm encoders take one.
    Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=16000,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=config.feat_extract_norm == "layer",
    ).save_pretrained(folder)


def main() -> None:
    for name, overrides in CONFIGS.items():
        write_config(name, overrides)
        print(f"wrote {HUB_CONFIGS / name}")


if __name__ == "__main__":
    main()
