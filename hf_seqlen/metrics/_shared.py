"""What the metric modules share. `evaluate` copies this file beside a module that imports it relatively.
The figures themselves come from hf_seqlen.metrics.score, the package's one implementation of each metric."""

import datasets
import evaluate

from hf_seqlen.metrics import score

_INPUTS = """
Args:
    predictions: list of {kind}.
    references: list of {kind}.
Returns:
    {returns}
"""


def pair_info(description: str, dtype: str, returns: str, kind: str, **extra) -> evaluate.MetricInfo:
    """MetricInfo of a metric over (prediction, reference) pairs of one type."""
    return evaluate.MetricInfo(
        description=description,
        citation="",
        inputs_description=_INPUTS.format(kind=kind, returns=returns),
        features=datasets.Features({"predictions": datasets.Value(dtype), "references": datasets.Value(dtype)}),
        **extra,
    )


def transcript_info(description: str, returns: str) -> evaluate.MetricInfo:
    return pair_info(
        description, "string", returns, "transcripts (strings)", reference_urls=["https://github.com/jitsi/jiwer"]
    )


def class_info(description: str, returns: str) -> evaluate.MetricInfo:
    return pair_info(description, "int64", returns, "class ids (integers)")


def computed(name: str, predictions, references) -> dict:
    return {name: score(name, list(predictions), list(references))}
