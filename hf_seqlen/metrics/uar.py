"""Unweighted average recall (UAR): the recall of each reference class, averaged with equal weight per class.

The standard figure for emotion recognition, where classes are unbalanced (also called balanced accuracy).
"""

import datasets
import evaluate
import numpy as np

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of predicted class ids.
    references: list of reference class ids.
Returns:
    uar: mean over the classes present in the references of (correct predictions of the class / its references).
"""


class UnweightedAverageRecall(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Unweighted average recall (balanced accuracy).",
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references):
        predictions, references = np.asarray(predictions), np.asarray(references)
        recalls = [np.mean(predictions[references == label] == label) for label in np.unique(references)]
        return {"uar": float(np.mean(recalls))}
