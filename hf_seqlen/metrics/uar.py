"""Unweighted average recall (UAR): the recall of each reference class, averaged with equal weight per class.

The standard figure for emotion recognition, where classes are unbalanced (also called balanced accuracy).
"""

import evaluate

from ._shared import class_info, computed


class UnweightedAverageRecall(evaluate.Metric):
    def _info(self):
        return class_info(
            "Unweighted average recall (balanced accuracy).",
            "uar: mean over the classes in the references of (correct predictions of the class / its references).",
        )

    def _compute(self, predictions, references):
        return computed("uar", predictions, references)
