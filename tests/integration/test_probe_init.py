"""Where a probe starts: the layer weights of every head that sums layers, at step 0, on the transformers version
installed (scripts/constraints.txt) and on the lowest pyproject.toml admits; and two runs of one probe with one seed
give one result."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from downstream_probes import HEADS, class_folder_probe, make_class_folder
from helpers import REPO
from tiny_upstreams import save_upstream

LOWEST_TRANSFORMERS = REPO / ".venv" / "lowest-transformers"


def lowest_admitted_transformers() -> str:
    pyproject = (REPO / "pyproject.toml").read_text()
    return re.search(r'"transformers>=([\d.]+)"', pyproject).group(1)


# Loads the two loaders' modules by path: they import only torch and transformers, so they run beside an older
# transformers whose huggingface_hub the installed datasets would refuse.
LOAD_ON_ANOTHER_TRANSFORMERS = """
import importlib.util, json, sys
sys.path.insert(0, sys.argv[1])
import transformers

def module(name):
    spec = importlib.util.spec_from_file_location(name, f"hf_seqlen/downstream/{name}.py")
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded

loader, layer_sum = module("layer_weights"), module("layer_sum_ctc")
upstream = sys.argv[2]
found = {"version": transformers.__version__}
found["kws"] = loader.load_with_uniform_layer_weights(
    transformers.Wav2Vec2ForSequenceClassification, upstream, num_labels=3, use_weighted_layer_sum=True).layer_weights
for head in ("linear", "conv", "bilstm"):
    config = layer_sum.Wav2Vec2LayerSumConfig.from_pretrained(upstream, use_weighted_layer_sum=True, vocab_size=5,
                                                              ctc_head=head, ctc_head_hidden_size=8)
    found["asr-" + head] = loader.load_with_uniform_layer_weights(
        layer_sum.Wav2Vec2ForCTCWithLayerSum, upstream, config=config).layer_weights
print(json.dumps({key: value if isinstance(value, str) else value.tolist() for key, value in found.items()}))
"""


def test_the_lowest_admitted_transformers_starts_them_equal_too(tmp_path):
    lowest = lowest_admitted_transformers()
    assert (LOWEST_TRANSFORMERS / f"transformers-{lowest}.dist-info").is_dir(), (
        f"transformers {lowest} (pyproject.toml's lowest) is not in {LOWEST_TRANSFORMERS}: run scripts/setup.sh"
    )
    upstream = save_upstream(tmp_path / "upstream", group_norm=True)
    result = subprocess.run(
        [sys.executable, "-c", LOAD_ON_ANOTHER_TRANSFORMERS, str(LOWEST_TRANSFORMERS), str(upstream)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found.pop("version") == lowest
    assert set(found) == set(HEADS)
    for head, weights in found.items():
        weights = torch.tensor(weights)
        assert torch.equal(weights, torch.full_like(weights, 1 / len(weights))), (head, weights)


def scores(results: dict) -> dict:
    """results.json's metrics without the timings, which differ between any two runs."""
    timings = {"runtime", "samples_per_second", "steps_per_second"}
    return {
        split: {name: value for name, value in metrics.items() if name not in timings}
        for split, metrics in results["metrics"].items()
    }


@pytest.mark.parametrize("cache", ["cached", "live"])
def test_one_probe_run_twice_with_one_seed_gives_one_result_and_moves_its_layer_weights(cache, tmp_path):
    data_dir, upstream = make_class_folder(tmp_path / "sounds"), save_upstream(tmp_path / "upstream")
    runs = []
    for i in range(2):
        output_dir = tmp_path / f"run{i}"
        source = ["--feature_cache_dir", str(tmp_path / f"cache{i}")] if cache == "cached" else ["--no_cache_features"]
        runs.append(class_folder_probe(upstream, data_dir, output_dir, "--seed", "3", *source))
    assert scores(runs[0]) == scores(runs[1])
    first, second = (load_file(tmp_path / f"run{i}" / "model.safetensors")["layer_weights"] for i in range(2))
    assert torch.equal(first, second)
    # Trained from equal weights, they are no longer equal (4 updates at the probe's learning rate).
    assert (first.max() - first.min()) > 1e-4, first
