"""Probing on cached features: the head trained on the upstream's hidden states computed once predicts what it
predicts through the live upstream, for both encoder families; training crops are cut from the cached frames;
the cache is reused while upstream and split stay, rebuilt when the upstream changes, bounded in size, and
computed once under DDP."""

from __future__ import annotations

import json
import re

import pytest
from transformers import pipeline

from downstream_probes import (
    class_folder_probe,
    class_folder_probe_args,
    classification_through_pipeline,
    evaluated_split,
    make_class_folder,
)
from helpers import launch_downstream
from tiny_upstreams import save_upstream


def test_the_cache_is_reused_then_rebuilt_for_another_upstream_and_the_saved_model_runs_on_audio(tmp_path):
    data_dir, cache_dir = make_class_folder(tmp_path / "sounds"), tmp_path / "cache"
    upstream, cached = save_upstream(tmp_path / "upstream"), ("--feature_cache_dir", str(cache_dir))
    first = class_folder_probe(upstream, data_dir, tmp_path / "first", *cached)["train"]["feature_cache"]
    assert first["computed"] == ["eval", "train"] and first["reused"] == [] and first["bytes"] > 0
    folders = sorted(path.name for path in cache_dir.iterdir())
    assert len(folders) == 2

    second = class_folder_probe(upstream, data_dir, tmp_path / "second", *cached, "--seed", "7")["train"][
        "feature_cache"
    ]
    assert second["computed"] == [] and second["reused"] == ["eval", "train"]
    assert sorted(path.name for path in cache_dir.iterdir()) == folders

    other = save_upstream(tmp_path / "other-upstream", seed=1)  # same config, other weights
    results = class_folder_probe(other, data_dir, tmp_path / "third", *cached)
    assert results["train"]["feature_cache"]["computed"] == ["eval", "train"]
    assert len(list(cache_dir.iterdir())) == 4

    # The saved folder is the plain model (upstream + head + layer weights) and reproduces the run on audio.
    classify = pipeline("audio-classification", model=str(tmp_path / "third"))
    assert classify.model.config.use_weighted_layer_sum
    validation = evaluated_split(
        "eval", task="audio-classification", model_name_or_path=str(other), data_dir=str(data_dir), test_split_name=""
    )
    through_pipeline = classification_through_pipeline(classify, validation, "label")
    assert through_pipeline["accuracy"] == results["metrics"]["eval"]["accuracy"]
    assert through_pipeline["loss"] == pytest.approx(results["metrics"]["eval"]["loss"], rel=1e-3)


def test_under_ddp_one_process_computes_the_cache_and_the_other_reads_it(tmp_path):
    """Two CPU processes over gloo, as `accelerate launch` starts them: no race on the cache folder."""
    upstream, output_dir = save_upstream(tmp_path / "upstream"), tmp_path / "out"
    data_dir = make_class_folder(tmp_path / "sounds")
    result = launch_downstream(class_folder_probe_args(upstream, data_dir, output_dir, steps=3), processes=2)
    assert result.returncode == 0, result.stderr[-4000:]
    assert len(re.findall(r"feature cache: computed .*/(train|eval)-", result.stderr)) == 2, result.stderr[-4000:]
    assert len(re.findall(r"feature cache: reusing .*/(train|eval)-", result.stderr)) == 2
    assert sorted(path.name.split("-")[0] for path in (output_dir / "feature_cache").iterdir()) == ["eval", "train"]
    assert json.loads((output_dir / "results.json").read_text())["metrics"]["eval"]["accuracy"] is not None
