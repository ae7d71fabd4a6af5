"""The metric modules shipped in hf_seqlen/metrics load through `evaluate` with no network and compute the right
numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from metric_cases import CASES


def test_every_module_loads_offline_by_path_and_computes(tmp_path):
    """A fresh process with the Hub switched off and an empty modules cache, as on a machine with no network."""
    script = (
        "import evaluate, json, sys\n"
        "from hf_seqlen.metrics import module_path\n"
        "cases = json.loads(sys.argv[1])\n"
        "scores = {name: evaluate.load(module_path(name)).compute(**inputs) for name, (inputs, _) in cases.items()}\n"
        "print(json.dumps(scores))\n"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_EVALUATE_OFFLINE": "1",
        "HF_MODULES_CACHE": str(tmp_path / "modules"),
    }
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(CASES)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    computed = json.loads(result.stdout.strip().splitlines()[-1])
    for name, (_, expected) in CASES.items():
        assert computed[name] == pytest.approx(expected), name
