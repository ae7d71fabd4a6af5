"""Character error rate over a corpus, computed by jiwer: character-level edit distance / reference characters."""

import evaluate
import jiwer

from ._shared import transcript_info


class CharacterErrorRate(evaluate.Metric):
    def _info(self):
        return transcript_info(
            "Character error rate: character edit distance summed over the corpus, divided by the reference length.",
            "cer: a float, 0 is perfect; spaces count as characters.",
        )

    def _compute(self, predictions, references):
        return {"cer": float(jiwer.cer(list(references), list(predictions)))}
