"""TrainingArguments that depend on the upstream: what DDP must allow, and how evaluation may batch.

- LayerDrop skips whole encoder layers during training, so their parameters get no gradient in that
  step. DDP must then look for unused parameters, or it stops ("Expected to have finished reduction
  ...") or hangs. Trainer asks for that search by default, except under activation (gradient)
  checkpointing; with a LayerDrop upstream being fine-tuned it is asked for explicitly.
- A prediction must not depend on which clips share its evaluation batch. That holds when the model
  gets an attention mask and its convolutional feature encoder works frame by frame (layer norm): the
  padded frames are masked in attention and left out of the pooled mean. A group-norm feature encoder
  (wav2vec 2.0 BASE) normalises each channel over the whole padded input, and such upstreams are
  trained without an attention mask, so padding changes every frame: they are evaluated one clip at a
  time, as the pipelines run them.
"""

from __future__ import annotations

import logging

from transformers import TrainingArguments, Wav2Vec2Config, Wav2Vec2FeatureExtractor

from ..option_parsing import UsageError

logger = logging.getLogger(__name__)


def allow_skipped_layers(training_args: TrainingArguments, config: Wav2Vec2Config) -> None:
    """Under DDP, let a step leave the parameters of layers LayerDrop skipped without a gradient. Only an upstream
    that trains needs it (protocol.py): a frozen one gets no gradients at all."""
    if config.layerdrop <= 0:
        return
    if training_args.ddp_find_unused_parameters is False:
        raise UsageError(
            f"--ddp_find_unused_parameters false cannot fine-tune this upstream: its layerdrop is "
            f"{config.layerdrop:g}, so a skipped layer gets no gradient and DDP stops. Leave the option unset."
        )
    training_args.ddp_find_unused_parameters = True


def padding_changes_predictions(config: Wav2Vec2Config, feature_extractor: Wav2Vec2FeatureExtractor) -> bool:
    return config.feat_extract_norm == "group" or not feature_extractor.return_attention_mask


def evaluate_without_padding_if_needed(
    training_args: TrainingArguments, config: Wav2Vec2Config, feature_extractor: Wav2Vec2FeatureExtractor
) -> None:
    """One clip per evaluation batch where padding would change a prediction (group norm or no attention mask)."""
    if not padding_changes_predictions(config, feature_extractor):
        return
    if training_args.n_gpu > 1:  # DataParallel pads one batch for all GPUs
        raise UsageError(
            "this upstream's predictions change with padding (group norm), so evaluation runs one clip "
            "per process: start one process per GPU (accelerate launch or torchrun)."
        )
    if training_args.per_device_eval_batch_size != 1:
        logger.info(
            "the upstream's feature encoder sees padding (%s norm, attention mask: %s): evaluating one clip "
            "per batch instead of %d, so no prediction depends on its batch",
            config.feat_extract_norm,
            feature_extractor.return_attention_mask,
            training_args.per_device_eval_batch_size,
        )
        training_args.per_device_eval_batch_size = 1
