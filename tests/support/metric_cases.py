"""Each metric's figure on a small case worked out by hand."""

from __future__ import annotations

CASES = {
    # 1 substitution + 1 deletion over 4 reference words
    "wer": ({"predictions": ["a x c"], "references": ["a b c d"]}, {"wer": 0.5}),
    # 1 deletion over 4 reference characters
    "cer": ({"predictions": ["abd"], "references": ["abcd"]}, {"cer": 0.25}),
    "accuracy": ({"predictions": [0, 0, 1, 1], "references": [0, 1, 1, 1]}, {"accuracy": 0.75}),
    # class 0: F1 2/3, class 1: F1 4/5
    "f1": ({"predictions": [0, 0, 1, 1], "references": [0, 1, 1, 1]}, {"f1": (2 / 3 + 4 / 5) / 2}),
    # class 0: recall 1, class 1: recall 2/3
    "uar": ({"predictions": [0, 0, 1, 1], "references": [0, 1, 1, 1]}, {"uar": (1 + 2 / 3) / 2}),
}
