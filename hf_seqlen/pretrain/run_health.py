"""Did a pre-training run learn? A run that ends worse than it started on its validation crops (contrastive loss
up, or contrastive accuracy down, between the validation before the first update and the last one), or whose
codebook ends in little use, is flagged: warned in the log, marked in costs.json (`training_health`) and on the
model card, and listed per seed by the study's report, which says what its headline would be without such runs.
Nothing is dropped: a flagged run is still a result.

The codebook's use is the perplexity of the log intervals (`codevector_perplexity`, over every update of an
interval): the figure the log prints, with no extra pass; validation measures none. It stalled when it ends below
half the codebook and no higher than at the first log interval: the level alone cannot tell a failed run from a
healthy one (on wav2vec2-tiny's 64 codevectors a healthy 1 s run ends at 32.9, 30.5 ten updates earlier; a 4 s run
that trained backwards at 28.9; docs/measurements/failed-seed.md), but a healthy codebook grows from its start.
"""

from __future__ import annotations

STALLED_CODEBOOK_SHARE = 0.5  # a codebook that ends below this share of its codevectors, without growing, stalled


def training_problems(initial: dict | None, final: dict, perplexities: list[float], codebook_size: int) -> list[str]:
    """What went wrong, one sentence each; empty for a run that learned. `initial` and `final` are validations
    (`eval_loss`, `eval_accuracy`), `initial` None for a run resumed past its start; `perplexities` those of this
    session's log intervals, in order (fewer than two: nothing to judge)."""
    problems = []
    if initial:
        if final["eval_loss"] > initial["eval_loss"]:
            problems.append(
                f"validation loss rose from {initial['eval_loss']:.3f} before training to {final['eval_loss']:.3f}"
            )
        if final["eval_accuracy"] < initial["eval_accuracy"]:
            problems.append(
                f"validation contrastive accuracy fell from {initial['eval_accuracy']:.3f} before training to "
                f"{final['eval_accuracy']:.3f}"
            )
    if len(perplexities) >= 2:
        first, last = perplexities[0], perplexities[-1]
        if last <= first and last < STALLED_CODEBOOK_SHARE * codebook_size:
            problems.append(
                f"the codebook stalled: codevector perplexity {last:.1f} of {codebook_size} at the end, no higher "
                f"than {first:.1f} at the first log interval"
            )
    return problems


def run_health(initial: dict | None, final: dict, perplexities: list[float], config) -> dict:
    """What costs.json keeps as `training_health`, for a model of this config (a Wav2Vec2Config)."""
    size = config.num_codevector_groups * config.num_codevectors_per_group
    problems = training_problems(initial, final, perplexities, size)
    return {
        "learned": not problems,
        "problems": problems,
        "final_codevector_perplexity": perplexities[-1] if perplexities else None,
        "codebook_size": size,
    }


def card_warning(costs: dict) -> str:
    """A model-card section for a flagged run (from costs.json); empty for a run that learned."""
    problems = (costs.get("training_health") or {}).get("problems")
    if not problems:
        return ""
    listed = "\n".join(f"- {problem}" for problem in problems)
    return (
        "\n## Warning: this run did not learn as expected\n\n"
        f"{listed}\n\nCompare its downstream results with other seeds before using it.\n"
    )
