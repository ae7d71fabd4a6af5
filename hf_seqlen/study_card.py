"""The section a sweep adds to each arm's pre-training model card: its cost against the reference arm
(measured in the same sweep) and each downstream metric with its 95% CI. Kept in `study.md` beside the
card, so a rewritten card (hf_seqlen.hub) can carry it again."""

from __future__ import annotations

from pathlib import Path

from .report import metric_columns, seed_dir, state, state_difference

SECTION_FILE = "study.md"
HEADING = "## In the sequence-length study"


def card_section(row: dict, reference_arm: str, tasks: list[str]) -> str:
    lines = [HEADING, "",
             f"Arm {row['arm']} of a sweep with {row['seeds']} seed(s) per arm; compared with {reference_arm}, "
             "paired on the same test examples and seeds (95% CIs over test examples and pre-training seeds, with a t "
             "quantile for the few seeds; with one seed they cover the test examples only).", ""]
    if "cost_ratio_vs_reference" in row:
        lines.append(f"- Pre-training cost: {row['cost_ratio_vs_reference']:.2f}x that of {reference_arm}.")
    for metric in metric_columns([row], tasks):
        text = (f"- {metric.replace('_', ' ')}: {state(metric, row[metric])} "
                f"(95% CI {state(metric, row[f'{metric}_ci_low'])} to {state(metric, row[f'{metric}_ci_high'])})")
        if f"{metric}_diff_vs_reference" in row and row["arm"] != reference_arm:
            text += (f"; minus {reference_arm}: {state_difference(metric, row[f'{metric}_diff_vs_reference'])} "
                     f"(95% CI {state_difference(metric, row[f'{metric}_diff_ci_low'])} to "
                     f"{state_difference(metric, row[f'{metric}_diff_ci_high'])})")
        lines.append(text + ".")
    return "\n".join(lines) + "\n"


def with_section(card: str, section: str) -> str:
    """The card with its study section replaced (or appended): a rerun of the sweep never duplicates it."""
    before = card.split(HEADING)[0].rstrip("\n")
    return f"{before}\n\n{section}"


def restore_section(card: Path) -> None:
    """Put the sweep's section (kept in study.md beside the card) back into a rewritten card."""
    saved = card.parent / SECTION_FILE
    if saved.is_file():
        card.write_text(with_section(card.read_text(), saved.read_text()))


def write_card_sections(sweep_dir: Path, rows: list[dict], tasks: list[str], seeds: list[int]) -> None:
    for row in rows:
        section = card_section(row, row["reference_arm"], tasks)
        for seed in seeds:
            pretrain = seed_dir(sweep_dir, row["arm"], seed) / "pretrain"
            card = pretrain / "README.md"
            if card.is_file():
                (pretrain / SECTION_FILE).write_text(section)
                restore_section(card)
