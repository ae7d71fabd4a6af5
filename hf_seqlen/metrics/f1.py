"""Macro-averaged F1: the F1 score of each class, averaged with equal weight per class."""

import evaluate

from ._shared import class_info, computed


class MacroF1(evaluate.Metric):
    def _info(self):
        return class_info(
            "Macro-averaged F1 score.",
            "f1: the unweighted mean over the classes in the references or predictions of "
            "2 * precision * recall / (precision + recall).",
        )

    def _compute(self, predictions, references):
        return computed("f1", predictions, references)
