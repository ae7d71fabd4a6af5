"""Did a pre-training run learn? A run that ends worse than it started on its validation crops (contrastive loss
up, or contrastive accuracy down, between the validation before the first update and the last one), or whose
codebook ends in little use, is flagged: warned in the log, marked in costs.json (`training_health`) and on the
model card, and listed per seed by the study's report, which says what its headline would be without such runs.
Nothing is dropped: a flagged run is still a result.

The codebook's use is the perplexity of the last log interval (`codevector_perplexity`, over every update of
that interval): the figure the log prints, with no extra pass; validation measures none.
"""

from __future__ import annotations

# A codebook whose perplexity ends below this share of its codevectors has stalled. Measured on wav2vec2-tiny
# (64 codevectors), 200 updates of the default study (docs/measurements/failed-seed.md): healthy runs end at
# 41 to 45 (0.64 to 0.70), runs that trained backwards near 28 (0.44).
STALLED_CODEBOOK_SHARE = 0.5


def training_problems(initial: dict | None, final: dict, perplexity: float | None, codebook_size: int) -> list[str]:
    """What went wrong, one sentence each; empty for a run that learned. `initial` and `final` are validations
    (`eval_loss`, `eval_accuracy`), `initial` None for a run resumed past its start; `perplexity` None when no log
    interval was trained (nothing to judge)."""
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
    if perplexity is not None and perplexity < STALLED_CODEBOOK_SHARE * codebook_size:
        problems.append(
            f"the codebook stalled: perplexity {perplexity:.1f} of {codebook_size} codevectors at the end "
            f"(below {STALLED_CODEBOOK_SHARE:.0%})"
        )
    return problems


def run_health(initial: dict | None, final: dict, perplexity: float | None, config) -> dict:
    """What costs.json keeps as `training_health`, for a model of this config (a Wav2Vec2Config)."""
    size = config.num_codevector_groups * config.num_codevectors_per_group
    problems = training_problems(initial, final, perplexity, size)
    return {
        "learned": not problems,
        "problems": problems,
        "final_codevector_perplexity": perplexity,
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
