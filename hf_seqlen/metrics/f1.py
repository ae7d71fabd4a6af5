"""Macro-averaged F1: the F1 score of each class, averaged with equal weight per class."""

import datasets
import evaluate
import numpy as np

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of predicted class ids.
    references: list of reference class ids.
Returns:
    f1: the unweighted mean over classes (those in the references or predictions) of
        2 * precision * recall / (precision + recall); a class never predicted and never present is not counted.
"""


class MacroF1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Macro-averaged F1 score.",
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references):
        predictions, references = np.asarray(predictions), np.asarray(references)
        scores = []
        for label in np.union1d(predictions, references):
            true_positives = np.sum((predictions == label) & (references == label))
            # 2TP / (2TP + FP + FN) is F1 without dividing by a zero precision or recall.
            denominator = np.sum(predictions == label) + np.sum(references == label)
            scores.append(2 * true_positives / denominator)
        return {"f1": float(np.mean(scores))}
