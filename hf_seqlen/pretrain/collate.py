"""Batches for pre-training: padded audio, the time mask, and the negatives of the contrastive task.

Masks and negatives are drawn here, on the CPU and inside DataLoader workers, from a seed fixed by
the batch's content, so a resumed run draws the same ones as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import Wav2Vec2Config
from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

from ..corpus.audio import pad_audio


def feature_frames(num_samples: int, config: Wav2Vec2Config) -> int:
    """Frames the convolutional feature encoder makes of `num_samples` (20 ms each at 16 kHz)."""
    length = num_samples
    for kernel, stride in zip(config.conv_kernel, config.conv_stride):
        length = (length - kernel) // stride + 1
    return max(length, 0)


def shortest_maskable_seconds(config: Wav2Vec2Config, sampling_rate: int, mask_length: int) -> float:
    """The shortest input with room for one masked span (and so for two masked frames or more).

    Shorter crops get no masked frame: they teach nothing, and a batch of them makes the diversity
    loss 0/0. The frame count of `feature_frames`, inverted.
    """
    samples = max(mask_length, 2)
    for kernel, stride in reversed(list(zip(config.conv_kernel, config.conv_stride))):
        samples = (samples - 1) * stride + kernel
    return samples / sampling_rate


@contextlib.contextmanager
def seeded_numpy(seed_material: Sequence[int]) -> Iterator[None]:
    """transformers' mask helpers draw from numpy's global generator: seed it, then put it back."""
    saved = np.random.get_state()
    np.random.seed(np.random.SeedSequence(list(seed_material)).generate_state(1)[0])
    try:
        yield
    finally:
        np.random.set_state(saved)


def distractor_pool(mask_time_indices: np.ndarray, frame_mask: np.ndarray) -> np.ndarray:
    """Per row, the frames distractors are drawn from: the row's other masked frames, as wav2vec 2.0
    samples them (fairseq and transformers). A row with fewer than two masked frames has no other
    masked frame to offer, so it draws from its real frames instead."""
    too_few = mask_time_indices.sum(axis=1) < 2
    return np.where(too_few[:, None], frame_mask, mask_time_indices)


@dataclass
class PretrainingCollator:
    """Turns decoded crops into the inputs of `Wav2Vec2ForPreTraining`.

    Masked spans fall on real frames only, never on padding; the distractors of a masked frame are
    other masked frames of its own utterance (`distractor_pool`). `return_attention_mask` follows the
    feature extractor: group-norm encoders (BASE) are trained without one, as published.
    """

    config: Wav2Vec2Config
    sampling_rate: int
    return_attention_mask: bool = True
    seed: int = 0
    mask_time_prob: float | None = None
    mask_time_length: int | None = None

    @property
    def mask_length(self) -> int:
        return self.mask_time_length or self.config.mask_time_length

    @property
    def mask_prob(self) -> float:
        return self.mask_time_prob if self.mask_time_prob is not None else self.config.mask_time_prob

    def __call__(self, samples: Sequence[dict]) -> dict:
        bad_audio = [s["bad_audio"] for s in samples if "bad_audio" in s]
        good = [s for s in samples if "bad_audio" not in s]
        batch: dict = {"bad_audio": bad_audio, "num_samples": len(good)}
        if not good:
            return batch
        crops = [s["crop"] for s in good]
        # As long as the longest planned crop, even where decoding gave a sample less (resampling, a header
        # that overstates): the batch then has the planned shape, one of few when lengths are bucketed.
        planned = round(max(c.length for c in crops) * self.sampling_rate)
        input_values, attention_mask = pad_audio([s["input_values"] for s in good], planned)
        frames = [feature_frames(len(s["input_values"]), self.config) for s in good]
        frame_mask = np.zeros((len(good), feature_frames(input_values.shape[1], self.config)), dtype=bool)
        for i, n in enumerate(frames):
            frame_mask[i, :n] = True

        seed_material = [self.seed, good[0]["epoch"]] + [c.index for c in crops] + [int(c.start * 1000) for c in crops]
        with seeded_numpy(seed_material):
            mask_time_indices = _compute_mask_indices(
                frame_mask.shape,
                mask_prob=self.mask_prob,
                mask_length=self.mask_length,
                attention_mask=torch.from_numpy(frame_mask).long(),
                min_masks=2,
            )
            mask_time_indices &= frame_mask
            negatives = _sample_negative_indices(
                frame_mask.shape,
                self.config.num_negatives,
                mask_time_indices=distractor_pool(mask_time_indices, frame_mask),
            )
        batch.update(
            input_values=input_values,
            mask_time_indices=torch.from_numpy(mask_time_indices),
            sampled_negative_indices=torch.from_numpy(negatives).long(),
            audio_seconds=sum(c.length for c in crops),
            longest_seconds=input_values.shape[1] / self.sampling_rate,
            frames=sum(frames),
            masked_frames=int(mask_time_indices.sum()),  # counted here, on the host: the update scales its loss by it
            padded=any(len(s["input_values"]) < input_values.shape[1] for s in good),
        )
        if self.return_attention_mask:
            batch["attention_mask"] = attention_mask
        return batch


MODEL_INPUTS = ("input_values", "attention_mask", "mask_time_indices", "sampled_negative_indices")


def model_inputs(batch: dict, device: torch.device) -> dict:
    """The tensors the model takes, on its device; the rest of the batch is bookkeeping."""
    return {k: batch[k].to(device, non_blocking=True) for k in MODEL_INPUTS if k in batch}
