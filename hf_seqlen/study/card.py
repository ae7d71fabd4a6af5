"""The section a sweep adds to each arm's pre-training model card: its cost against the reference arm
(measured in the same sweep) and each downstream metric with its 95% CI. Kept in `study.md` beside the
card (release.SECTION_FILE), so a rewritten card (release.refresh_card) carries it again."""

from __future__ import annotations

from pathlib import Path

from ..publishing.release import CARD_FILE, SECTION_FILE, restore_section
from .report import metric_columns, seed_dir, state, state_difference

HEADING = "## In the sequence-length study"


def card_section(row: dict, reference_arm: str, tasks: list[str]) -> str:
    lines = [
        HEADING,
        "",
        f"Arm {row['arm']} of a sweep with {row['seeds']} seed(s) per arm; compared with {reference_arm}, "
        "paired on the same test examples and seeds (95% CIs over test examples and pre-training seeds, with a t "
        "quantile for the few seeds; with one seed they cover the test examples only).",
        "",
    ]
    if "cost_ratio_vs_reference" in row:
        lines.append(f"- Pre-training cost: {row['cost_ratio_vs_reference']:.2f}x that of {reference_arm}.")
    for metric in metric_columns([row], tasks):
        text = (
            f"- {metric.replace('_', ' ')}: {state(metric, row[metric])} "
            f"(95% CI {state(metric, row[f'{metric}_ci_low'])} to {state(metric, row[f'{metric}_ci_high'])})"
        )
        if f"{metric}_diff_vs_reference" in row and row["arm"] != reference_arm:
            text += (
                f"; minus {reference_arm}: {state_difference(metric, row[f'{metric}_diff_vs_reference'])} "
                f"(95% CI {state_difference(metric, row[f'{metric}_diff_ci_low'])} to "
                f"{state_difference(metric, row[f'{metric}_diff_ci_high'])})"
            )
        lines.append(text + ".")
    return "\n".join(lines) + "\n"


def write_card_sections(sweep_dir: Path, rows: list[dict], tasks: list[str], seeds: list[int]) -> None:
    for row in rows:
        section = card_section(row, row["reference_arm"], tasks)
        for seed in seeds:
            pretrain = seed_dir(sweep_dir, row["arm"], seed) / "pretrain"
            card = pretrain / CARD_FILE
            if card.is_file():
                (pretrain / SECTION_FILE).write_text(section)
                restore_section(card)
