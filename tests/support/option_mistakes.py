"""The one line a mistyped option gets."""

from __future__ import annotations


def typo_message(typo: str, suggestion: str) -> str:
    return f"hf_seqlen error: unknown option {typo} (did you mean {suggestion}?). --help lists every option."
