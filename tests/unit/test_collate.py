"""Masks and negatives of the contrastive task."""

import numpy as np
import pytest
import torch
from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining

from hf_seqlen.corpus.audio import Crop
from hf_seqlen.pretrain.args import HUB_CONFIGS
from hf_seqlen.pretrain.collate import (
    PretrainingCollator,
    distractor_pool,
    feature_frames,
    model_inputs,
    shortest_maskable_seconds,
)

RATE = 16000


@pytest.fixture(scope="module")
def config():
    return Wav2Vec2Config.from_pretrained(HUB_CONFIGS / "wav2vec2-tiny")


def samples(seconds, epoch=0):
    rng = np.random.default_rng(0)
    return [
        {
            "crop": Crop(i, 0.5 * i, s),
            "epoch": epoch,
            "input_values": rng.standard_normal(int(s * RATE)).astype(np.float32),
        }
        for i, s in enumerate(seconds)
    ]


def test_feature_frames_match_the_model(config):
    model = Wav2Vec2ForPreTraining(config)
    for n in (400, 16000, 31999, 32000):
        assert feature_frames(n, config) == int(model._get_feat_extract_output_lengths(n))


def test_shapes(config):
    batch = PretrainingCollator(config, RATE)(samples([2.0, 1.3, 0.7]))
    frames = feature_frames(32000, config)
    assert batch["input_values"].shape == (3, 32000)
    assert batch["attention_mask"].shape == (3, 32000)
    assert batch["mask_time_indices"].shape == (3, frames)
    assert batch["sampled_negative_indices"].shape == (3, frames, config.num_negatives)
    assert batch["audio_seconds"] == pytest.approx(4.0)
    assert batch["longest_seconds"] == pytest.approx(2.0)


def test_a_batch_is_as_long_as_its_longest_planned_crop(config):
    """A crop decoded a sample short (a resampled file) still gives the planned shape."""
    short = samples([1.0, 0.5])
    short[0]["input_values"] = short[0]["input_values"][:-1]
    batch = PretrainingCollator(config, RATE)(short)
    assert batch["input_values"].shape == (2, RATE)
    assert batch["attention_mask"][0].sum() == RATE - 1


def test_masks_never_fall_on_padding(config):
    lengths = [2.0, 1.3, 0.7]
    batch = PretrainingCollator(config, RATE)(samples(lengths))
    for row, seconds in enumerate(lengths):
        real = feature_frames(int(seconds * RATE), config)
        mask = batch["mask_time_indices"][row]
        assert mask[:real].any() and not mask[real:].any()


def test_distractors_are_other_masked_frames_of_their_own_utterance(config):
    """As wav2vec 2.0 samples them (fairseq, transformers): never an unmasked or padded frame."""
    lengths = [2.0, 1.3, 0.7, 2.0]
    batch = PretrainingCollator(config, RATE)(samples(lengths))
    mask = batch["mask_time_indices"]
    frames_total = mask.shape[1]
    for row in range(len(lengths)):
        masked = torch.nonzero(mask[row]).flatten()
        negatives = batch["sampled_negative_indices"][row][masked] - row * frames_total
        assert torch.isin(negatives, masked).all()
        assert not (negatives == masked[:, None]).any()
        assert len(torch.unique(negatives)) > 1  # spread over the masked frames, not one repeated


def test_a_row_with_fewer_than_two_masked_frames_draws_from_its_real_frames():
    mask = np.array([[False, True, False, False, False], [True, False, True, False, False]])
    frames = np.array([[True, True, True, True, False], [True, True, True, True, True]])
    pool = distractor_pool(mask, frames)
    assert (pool[0] == frames[0]).all() and (pool[1] == mask[1]).all()


def test_masks_repeat_for_the_same_batch_and_differ_across_epochs(config):
    collator = PretrainingCollator(config, RATE, seed=5)
    first = collator(samples([2.0, 2.0]))["mask_time_indices"]
    again = collator(samples([2.0, 2.0]))["mask_time_indices"]
    other_epoch = collator(samples([2.0, 2.0], epoch=1))["mask_time_indices"]
    assert torch.equal(first, again)
    assert not torch.equal(first, other_epoch)


def test_global_numpy_state_is_left_alone(config):
    np.random.seed(0)
    expected = np.random.rand()
    np.random.seed(0)
    PretrainingCollator(config, RATE)(samples([1.0]))
    assert np.random.rand() == expected


def test_bad_audio_is_reported_not_collated(config):
    items = samples([1.0]) + [{"crop": Crop(9, 0.0, 1.0), "epoch": 0, "bad_audio": ("x.wav", "holds no samples")}]
    batch = PretrainingCollator(config, RATE)(items)
    assert batch["num_samples"] == 1 and batch["bad_audio"] == [("x.wav", "holds no samples")]
    assert batch["input_values"].shape[0] == 1


def test_model_accepts_the_batch_and_its_loss_is_finite(config):
    batch = PretrainingCollator(config, RATE)(samples([2.0, 1.5]))
    outputs = Wav2Vec2ForPreTraining(config)(**model_inputs(batch, torch.device("cpu")))
    assert torch.isfinite(outputs.loss)


def test_the_shortest_maskable_crop_is_masked_and_its_loss_finite(config):
    shortest = shortest_maskable_seconds(config, RATE, config.mask_time_length)
    assert feature_frames(round(shortest * RATE), config) == config.mask_time_length
    assert feature_frames(round(shortest * RATE) - 1, config) == config.mask_time_length - 1
    batch = PretrainingCollator(config, RATE)(samples([shortest, shortest]))
    assert (batch["mask_time_indices"].sum(1) >= 2).all()
    outputs = Wav2Vec2ForPreTraining(config)(**model_inputs(batch, torch.device("cpu")))
    assert torch.isfinite(outputs.loss) and torch.isfinite(outputs.diversity_loss)
