"""Metric modules for `evaluate` that ship with the package, so no metric is fetched from the Hub.

    metric = hf_seqlen.metrics.load("wer")   # same as evaluate.load("<this folder>/wer.py")
"""

from __future__ import annotations

from pathlib import Path

import evaluate

METRICS_DIR = Path(__file__).resolve().parent
NAMES = ("wer", "cer", "accuracy", "f1", "uar")


def module_path(name: str) -> str:
    if name not in NAMES:
        raise ValueError(f"no metric module '{name}' in {METRICS_DIR} (there are: {', '.join(NAMES)}).")
    return str(METRICS_DIR / f"{name}.py")


def load(name: str) -> evaluate.EvaluationModule:
    return evaluate.load(module_path(name))
