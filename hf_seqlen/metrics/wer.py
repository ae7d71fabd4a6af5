"""Word error rate over a corpus, computed by jiwer: (substitutions + deletions + insertions) / reference words."""

import datasets
import evaluate
import jiwer

_DESCRIPTION = "Word error rate: word-level edit distance summed over the corpus, divided by the reference word count."
_KWARGS_DESCRIPTION = """
Args:
    predictions: list of hypothesis transcripts.
    references: list of reference transcripts.
Returns:
    wer: a float, 0 is perfect; it can exceed 1 when the hypotheses insert words.
"""


class WordErrorRate(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            reference_urls=["https://github.com/jitsi/jiwer"],
        )

    def _compute(self, predictions, references):
        return {"wer": float(jiwer.wer(list(references), list(predictions)))}
