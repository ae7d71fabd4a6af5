"""Word error rate over a corpus: (substitutions + deletions + insertions, counted by jiwer) / reference words."""

import evaluate

from ._shared import computed, transcript_info


class WordErrorRate(evaluate.Metric):
    def _info(self):
        return transcript_info(
            "Word error rate: word-level edit distance summed over the corpus, divided by the reference word count.",
            "wer: a float, 0 is perfect; it can exceed 1 when the hypotheses insert words.",
        )

    def _compute(self, predictions, references):
        return computed("wer", predictions, references)
