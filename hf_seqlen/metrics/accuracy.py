"""Accuracy: the share of predictions equal to their reference label."""

import evaluate

from ._shared import class_info, computed


class Accuracy(evaluate.Metric):
    def _info(self):
        return class_info("Accuracy: correct predictions divided by all predictions.", "accuracy: a float in [0, 1].")

    def _compute(self, predictions, references):
        return computed("accuracy", predictions, references)
