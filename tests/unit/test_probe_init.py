"""Where a probe starts: the layer weights of every head that sums layers, at step 0, on the transformers version
installed (scripts/constraints.txt) and on the lowest pyproject.toml admits; and two runs of one probe with one seed
give one result."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset
from transformers import Wav2Vec2FeatureExtractor

from downstream_probes import HEADS
from hf_seqlen.downstream import classification, ctc
from hf_seqlen.downstream.probing import FROZEN_UPSTREAM_CONFIG
from tiny_upstreams import save_upstream


def scribble_on_freed_memory() -> None:
    """Leave huge values in memory the allocator hands out next, so a weight nobody initialised shows."""
    junk = [torch.full((64,), 1e30) for _ in range(256)]
    del junk


def load_probe(head: str, upstream, tmp_path):
    """The probing model run.py builds for the task, as load_model makes it."""
    if head == "kws":
        return classification.load_model(str(upstream), ["a", "b", "c"], True, None, **FROZEN_UPSTREAM_CONFIG)
    processor = ctc.build_processor(
        Dataset.from_dict({"text": ["go left"]}),
        "text",
        Wav2Vec2FeatureExtractor.from_pretrained(upstream),
        tmp_path / "vocab",
    )
    options = {
        "ctc_head": head.removeprefix("asr-"),
        "ctc_head_hidden_size": 8,
        "ctc_head_num_layers": 1,
        "ctc_head_downsample": 1,
    }
    return ctc.load_model(str(upstream), processor, True, None, options, **FROZEN_UPSTREAM_CONFIG)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("group_norm", [False, True], ids=["layer-norm", "group-norm"])
def test_every_layer_sum_head_starts_with_equal_layer_weights(head, group_norm, tmp_path):
    upstream = save_upstream(tmp_path / "upstream", group_norm=group_norm)
    for _ in range(3):  # memory reused between loads held other values each time
        scribble_on_freed_memory()
        weights = load_probe(head, upstream, tmp_path).layer_weights.detach()
        assert torch.equal(weights, torch.full_like(weights, 1 / len(weights))), weights
