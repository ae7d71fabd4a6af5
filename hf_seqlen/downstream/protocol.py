"""The two protocols: fine-tune the whole upstream, or probe a frozen one through a learnable softmax-weighted sum
of its layers (SUPERB). A protocol owns all that differs between them: the config the model loads with, which
parameters train, what the model reads (audio, or a probe's cached hidden states), the Trainer settings and the
training defaults it adds to the task's. The rest of downstream asks it; args.resolve picks it from the options.

Both heads' weighted sum is switched on in the config (`use_weighted_layer_sum`, see ctc.py and classification.py)
when the protocol's `reads_layer_sum` says so.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from datasets import Dataset
from torch import nn
from transformers import TrainingArguments, Wav2Vec2Config, Wav2Vec2FeatureExtractor

from ..corpus.audio import AudioDecoder
from .data import AudioCollator, TaskData, task_datasets
from .feature_cache import FeatureCache, collate_features, read_cached_features
from .task_table import TaskSpec
from .trainer_settings import allow_skipped_layers

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


class TaskInputs(NamedTuple):
    """What the Trainer reads: each part's dataset, the collator, and the feature cache's report (None without one:
    for results.json, what computing or reusing a probe's features cost)."""

    datasets: dict[str, Any]
    collator: Callable
    feature_cache: dict | None = None


class Protocol(ABC):
    """How a downstream run trains the upstream it is given; FineTuning and Probing below."""

    name: str  # results.json's "protocol"
    activity: str  # what the log says the run does
    reads_layer_sum: bool  # the head reads a learnable softmax-weighted sum of every hidden layer

    @abstractmethod
    def training_defaults(self, spec: TaskSpec) -> dict:
        """The task's training defaults under this protocol (over the common ones of args.py)."""

    @abstractmethod
    def config_overrides(self) -> dict:
        """Config values the model loads with, over the upstream's."""

    @abstractmethod
    def freeze(self, model: nn.Module) -> None:
        """Stop the gradients of what does not train."""

    @abstractmethod
    def inputs(
        self,
        model: nn.Module,
        splits: dict[str, Dataset],
        encode: Callable[[Dataset], list[Any]],
        data: TaskData,
        training_args: TrainingArguments,
        feature_extractor: Wav2Vec2FeatureExtractor,
    ) -> TaskInputs:
        """What the model reads, from each split and its targets (`encode`)."""

    @abstractmethod
    def apply_trainer_settings(self, training_args: TrainingArguments, config: Wav2Vec2Config) -> None:
        """What the Trainer must allow for what trains (trainer_settings.py)."""


def audio_inputs(
    splits: dict[str, Dataset],
    encode: Callable[[Dataset], list[Any]],
    data: TaskData,
    training_args: TrainingArguments,
    feature_extractor: Wav2Vec2FeatureExtractor,
) -> TaskInputs:
    """Audio decoded per batch, training clips cropped at random for classification."""
    decoder = AudioDecoder.for_extractor(feature_extractor)
    return TaskInputs(
        task_datasets(splits, encode, data, decoder, training_args.seed),
        AudioCollator(return_attention_mask=feature_extractor.return_attention_mask),
    )


@dataclass(frozen=True)
class FineTuning(Protocol):
    """The whole upstream trains with its head, under SpecAugment time masking."""

    mask_time_prob: float
    freeze_feature_encoder: bool  # the wav2vec 2.0 recipe keeps the convolutional feature encoder frozen

    name = "fine-tune"
    activity = "fine-tuning"
    reads_layer_sum = False

    def training_defaults(self, spec: TaskSpec) -> dict:
        return dict(spec.fine_tuning)

    def config_overrides(self) -> dict:
        # No minimum count of masks: two 10-frame spans would hide 40 % of a 1 s keyword clip.
        return {"mask_time_prob": self.mask_time_prob, "mask_time_min_masks": 0}

    def freeze(self, model: nn.Module) -> None:
        if self.freeze_feature_encoder:
            model.freeze_feature_encoder()

    def inputs(
        self,
        model: nn.Module,
        splits: dict[str, Dataset],
        encode: Callable[[Dataset], list[Any]],
        data: TaskData,
        training_args: TrainingArguments,
        feature_extractor: Wav2Vec2FeatureExtractor,
    ) -> TaskInputs:
        return audio_inputs(splits, encode, data, training_args, feature_extractor)

    def apply_trainer_settings(self, training_args: TrainingArguments, config: Wav2Vec2Config) -> None:
        allow_skipped_layers(training_args, config)


@dataclass(frozen=True)
class Probing(Protocol):
    """Every upstream weight stays frozen; the head trains on the weighted sum of all layers, read from the
    feature cache, or through the live upstream at every step when there is none (--no_cache_features)."""

    feature_cache: FeatureCache | None

    name = "probe"
    activity = "probing"
    reads_layer_sum = True

    def training_defaults(self, spec: TaskSpec) -> dict:
        return {**spec.fine_tuning, **spec.probing}

    def config_overrides(self) -> dict:
        return dict(FROZEN_UPSTREAM_CONFIG)

    def freeze(self, model: nn.Module) -> None:
        model.freeze_base_model()

    def inputs(
        self,
        model: nn.Module,
        splits: dict[str, Dataset],
        encode: Callable[[Dataset], list[Any]],
        data: TaskData,
        training_args: TrainingArguments,
        feature_extractor: Wav2Vec2FeatureExtractor,
    ) -> TaskInputs:
        """The cached hidden states, which the model is then switched to read (read_cached_features); audio
        without a cache."""
        if self.feature_cache is None:
            return audio_inputs(splits, encode, data, training_args, feature_extractor)
        decoder = AudioDecoder.for_extractor(feature_extractor)
        datasets, report = self.feature_cache.datasets(model, splits, encode, data, training_args, decoder)
        read_cached_features(model)
        return TaskInputs(datasets, collate_features, report)

    def apply_trainer_settings(self, training_args: TrainingArguments, config: Wav2Vec2Config) -> None:
        """Nothing to allow: a frozen upstream gets no gradients, so no skipped layer can leave one missing."""


def trainable_parameter_names(model: nn.Module) -> list[str]:
    return [name for name, parameter in model.named_parameters() if parameter.requires_grad]
