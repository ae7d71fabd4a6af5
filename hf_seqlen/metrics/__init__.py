"""The five metrics of the study (accuracy, WER, CER, macro-F1, UAR), computed one way everywhere: each example is
scored on its own (an outcome: correct or not, or its edits and reference length, counted by jiwer), and a corpus
figure is statistics.metric_values of those outcomes. The modules in this folder give the same figures to
`evaluate`, which loads them offline, so no metric is fetched from the Hub:

    metric = hf_seqlen.metrics.load("wer")   # same as evaluate.load("<this folder>/wer.py")
"""

from __future__ import annotations

from pathlib import Path

import evaluate
import jiwer

from ..statistics import metrics_of

METRICS_DIR = Path(__file__).resolve().parent
NAMES = ("wer", "cer", "accuracy", "f1", "uar")


def module_path(name: str) -> str:
    if name not in NAMES:
        raise ValueError(f"no metric module '{name}' in {METRICS_DIR} (there are: {', '.join(NAMES)}).")
    return str(METRICS_DIR / f"{name}.py")


def load(name: str) -> evaluate.EvaluationModule:
    return evaluate.load(module_path(name))


def edits(reference: str, hypothesis: str, unit: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference length) in words or characters, as jiwer counts them."""
    if not reference.strip():  # jiwer refuses an empty reference; every hypothesis token is an insertion
        return (len(hypothesis.split()) if unit == "words" else len(hypothesis.strip())), 0
    counts = (jiwer.process_words if unit == "words" else jiwer.process_characters)(reference, hypothesis)
    return (
        counts.substitutions + counts.deletions + counts.insertions,
        counts.hits + counts.substitutions + counts.deletions,
    )


def transcript_outcome(reference: str, hypothesis: str) -> dict:
    word_edits, words = edits(reference, hypothesis, "words")
    char_edits, chars = edits(reference, hypothesis, "chars")
    return {"word_edits": word_edits, "words": words, "char_edits": char_edits, "chars": chars}


def score(name: str, predictions: list, references: list) -> float:
    """One metric over a corpus of (prediction, reference) pairs: transcripts for WER and CER, labels otherwise."""
    if name in ("wer", "cer"):
        examples = [transcript_outcome(r, p) for p, r in zip(predictions, references, strict=True)]
    else:
        examples = [
            {"reference": r, "prediction": p, "correct": int(p == r)}
            for p, r in zip(predictions, references, strict=True)
        ]
    return metrics_of(examples, (name,))[name]
