"""What the time-to-quality benchmark pre-trains: its arms at each budget, the seeds of each budget, and the
optimizer settings each arm gets.

A budget is the example's number of updates. At each one:
- example: the example with the same AdamW settings and schedule as ours (run_pretrain's), N updates;
- 2s (and whatever ttq_same_updates_durations names), same updates: `run_pretrain.py --max_duration 2`, N updates;
- 2s and 4s, same FLOPs: `run_pretrain.py --max_train_flops F`, F the example's counted FLOPs with that seed;
- untrained: the config as initialised with the seed: what pre-training bought at all;
and at the headline budget (the one the README quotes) also
- example-readme: the example with the settings of its README's demo command, scaled to the budget: its learning
  rate and AdamW settings, 8 batches accumulated per update (N / 8 updates: the example's N batches, fewer where an
  epoch's end closes an update early, as the example does) and a warm-up 1.6 times as long as the run, as the demo's
  32000 warm-up updates are to its 20000.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from hf_seqlen.pretrain.args import PretrainingArguments

from .profiles import Profile

EXAMPLE, EXAMPLE_README, UNTRAINED = "example", "example-readme", "untrained"
# The example's README runs it on whole utterances of 2 to 20 s.
EXAMPLE_MIN_SECONDS, EXAMPLE_MAX_SECONDS = 2.0, 20.0
# run_pretrain's AdamW and schedule, given to both sides so that only the data recipe differs.
SHARED_OPTIMIZER = ("learning_rate", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon")
# The demo command in the README of transformers' examples/pytorch/speech-pretraining (base-sized, two GPUs of
# 8 utterances each): 20000 updates of 8 accumulated batches after 32000 warm-up updates, so its learning rate
# never reaches the peak it names.
README_DEMO_OPTIMIZER = {
    "learning_rate": 5e-3,
    "weight_decay": 0.01,
    "adam_beta1": 0.9,
    "adam_beta2": 0.98,
    "adam_epsilon": 1e-6,
}
README_DEMO_ACCUMULATION = 8
README_DEMO_WARMUP_SHARE = 32000 / 20000


def optimizer_defaults() -> dict[str, float]:
    defaults = {f.name: f.default for f in fields(PretrainingArguments)}
    return {**{name: defaults[name] for name in SHARED_OPTIMIZER}, "warmup_ratio": defaults["warmup_ratio"]}


@dataclass(frozen=True)
class Arm:
    recipe: str  # EXAMPLE, EXAMPLE_README, "2s", "4s", UNTRAINED
    budget: str  # "updates", "flops", "batches" (the example's batches, grouped as its README groups them), "none"
    updates: int  # the example's updates this arm is matched to (0: untrained)

    @property
    def slug(self) -> str:
        return UNTRAINED if self.recipe == UNTRAINED else f"{self.recipe}-{self.budget}-{self.updates}"

    @property
    def name(self) -> str:
        if self.recipe == EXAMPLE:
            return f"example, {updates_text(self.updates)}"
        if self.recipe == EXAMPLE_README:
            return (
                f"example, its README demo's settings: {updates_text(readme_updates(self.updates))} of "
                f"{README_DEMO_ACCUMULATION} batches"
            )
        if self.recipe == UNTRAINED:
            return UNTRAINED
        return f"{self.recipe}, same {'FLOPs' if self.budget == 'flops' else 'updates'}"

    @property
    def max_duration(self) -> float:
        return float(self.recipe.removesuffix("s"))


def updates_text(count: int) -> str:
    return f"{count} update{'s' if count != 1 else ''}"


def readme_updates(example_updates: int) -> int:
    """The updates of the README's settings over the example's batches at this budget."""
    return max(1, round(example_updates / README_DEMO_ACCUMULATION))


def example_settings(arm: Arm) -> dict:
    """The example's updates, accumulation, warm-up updates and AdamW settings in this arm."""
    if arm.recipe == EXAMPLE_README:
        updates = readme_updates(arm.updates)
        return {
            "updates": updates,
            "accumulation": README_DEMO_ACCUMULATION,
            "warmup_steps": int(README_DEMO_WARMUP_SHARE * updates),
            "optimizer": README_DEMO_OPTIMIZER,
        }
    optimizer = optimizer_defaults()
    warmup = optimizer.pop("warmup_ratio")
    return {
        "updates": arm.updates,
        "accumulation": 1,
        "warmup_steps": int(warmup * arm.updates),
        "optimizer": optimizer,
    }


def seeds_at(profile: Profile, updates: int) -> tuple[int, ...]:
    return profile.ttq_headline_seeds if updates == profile.ttq_headline_updates else profile.ttq_seeds


def arms_of(profile: Profile, updates: int) -> list[Arm]:
    """The arms matched to the example's `updates`: the example first, untrained last."""
    readme = [Arm(EXAMPLE_README, "batches", updates)] if updates == profile.ttq_headline_updates else []
    return [
        Arm(EXAMPLE, "updates", updates),
        *readme,
        *(Arm(f"{d:g}s", "updates", updates) for d in profile.ttq_same_updates_durations),
        *(Arm(f"{d:g}s", "flops", updates) for d in profile.ttq_durations),
        Arm(UNTRAINED, "none", 0),
    ]


def plan(profile: Profile) -> list[tuple[Arm, int]]:
    """Every (arm, seed) the profile pre-trains, each once; those that need the example's counted FLOPs last."""
    pairs = dict.fromkeys(
        (arm, seed)
        for updates in profile.ttq_updates
        for arm in arms_of(profile, updates)
        for seed in seeds_at(profile, updates)
    )
    return sorted(pairs, key=lambda pair: pair[0].budget == "flops")
