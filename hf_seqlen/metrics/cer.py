"""Character error rate over a corpus: character edits (counted by jiwer) / reference characters."""

import evaluate

from ._shared import computed, transcript_info


class CharacterErrorRate(evaluate.Metric):
    def _info(self):
        return transcript_info(
            "Character error rate: character edit distance summed over the corpus, divided by the reference length.",
            "cer: a float, 0 is perfect; spaces count as characters.",
        )

    def _compute(self, predictions, references):
        return computed("cer", predictions, references)
