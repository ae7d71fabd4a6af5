"""Character error rate over a corpus, computed by jiwer: character-level edit distance / reference characters."""

import datasets
import evaluate
import jiwer

_DESCRIPTION = "Character error rate: character edit distance summed over the corpus, divided by the reference length."
_KWARGS_DESCRIPTION = """
Args:
    predictions: list of hypothesis transcripts.
    references: list of reference transcripts.
Returns:
    cer: a float, 0 is perfect; spaces count as characters.
"""


class CharacterErrorRate(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            reference_urls=["https://github.com/jitsi/jiwer"],
        )

    def _compute(self, predictions, references):
        return {"cer": float(jiwer.cer(list(references), list(predictions)))}
