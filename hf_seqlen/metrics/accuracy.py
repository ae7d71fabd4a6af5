"""Accuracy: the share of predictions equal to their reference label."""

import evaluate
import numpy as np

from ._shared import class_info


class Accuracy(evaluate.Metric):
    def _info(self):
        return class_info("Accuracy: correct predictions divided by all predictions.", "accuracy: a float in [0, 1].")

    def _compute(self, predictions, references):
        return {"accuracy": float(np.mean(np.asarray(predictions) == np.asarray(references)))}
