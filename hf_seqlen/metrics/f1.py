"""Macro-averaged F1: the F1 score of each class, averaged with equal weight per class."""

import evaluate
import numpy as np

from ._shared import class_info


class MacroF1(evaluate.Metric):
    def _info(self):
        return class_info(
            "Macro-averaged F1 score.",
            "f1: the unweighted mean over the classes in the references or predictions of "
            "2 * precision * recall / (precision + recall).",
        )

    def _compute(self, predictions, references):
        predictions, references = np.asarray(predictions), np.asarray(references)
        scores = []
        for label in np.union1d(predictions, references):
            true_positives = np.sum((predictions == label) & (references == label))
            # 2TP / (2TP + FP + FN) is F1 without dividing by a zero precision or recall.
            scores.append(2 * true_positives / (np.sum(predictions == label) + np.sum(references == label)))
        return {"f1": float(np.mean(scores))}
