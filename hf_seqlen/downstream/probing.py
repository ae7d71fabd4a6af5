"""The two protocols: full fine-tuning, or a frozen upstream probed through a weighted sum of its layers (SUPERB).

Both heads' weighted sum is switched on by `use_weighted_layer_sum` in the config (see ctc.py and
classification.py); here is what each protocol freezes and how it sets the upstream's noise.
"""

from __future__ import annotations

from torch import nn

from .args import DownstreamArguments

# A frozen upstream is a fixed feature extractor: no masking, no dropout inside it.
FROZEN_UPSTREAM_CONFIG = {
    "mask_time_prob": 0.0,
    "mask_feature_prob": 0.0,
    "layerdrop": 0.0,
    "hidden_dropout": 0.0,
    "attention_dropout": 0.0,
    "activation_dropout": 0.0,
    "feat_proj_dropout": 0.0,
}


def config_overrides(args: DownstreamArguments) -> dict:
    if args.freeze_upstream:
        return dict(FROZEN_UPSTREAM_CONFIG)
    # No minimum count of masks: two 10-frame spans would hide 40 % of a 1 s keyword clip.
    return {"mask_time_prob": args.mask_time_prob, "mask_time_min_masks": 0}


def apply_protocol(model: nn.Module, args: DownstreamArguments) -> None:
    if args.freeze_upstream:
        model.freeze_base_model()
    elif args.freeze_feature_encoder:
        model.freeze_feature_encoder()


def trainable_parameter_names(model: nn.Module) -> list[str]:
    return [name for name, parameter in model.named_parameters() if parameter.requires_grad]
