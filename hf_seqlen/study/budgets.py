"""What a sweep can hold equal across its arms, in one table: adding a budget is an entry here and a field of
SweepArguments named as the run_pretrain option that enforces it (tests/unit/test_sweep.py checks both)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SweepBudget:
    option: str  # run_pretrain's option that stops a run at the budget; the sweep's field of the same name
    value_name: str  # how the sweep's message names its missing value
    held: str  # what the report says was held equal


BUDGETS: dict[str, SweepBudget] = {
    "steps": SweepBudget(
        "max_train_steps",
        "N",
        "updates (each arm takes the same number of optimizer steps with the same batch count, so a "
        "shorter arm sees less audio and fewer FLOPs by construction)",
    ),
    "audio_hours": SweepBudget("max_train_audio_hours", "H", "audio hours fed"),
    "flops": SweepBudget("max_train_flops", "F (e.g. 1e15)", "counted training FLOPs"),
}
