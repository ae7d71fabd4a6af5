"""What changes over a run's updates: the crop length (a length curriculum: short crops for the first share of the
updates, longer ones later) and the quantizer's gumbel temperature.

--duration_schedule "1:0.5,2:0.3,8:0.2"   # 1 s for 50% of updates, then 2 s for 30%, then 8 s
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass

from ..option_parsing import UsageError


@dataclass(frozen=True)
class DurationSchedule:
    durations: tuple[float, ...]
    shares: tuple[float, ...]

    @classmethod
    def parse(cls, text: str) -> DurationSchedule:
        try:
            pairs = [tuple(float(x) for x in part.split(":")) for part in text.split(",")]
            durations, shares = zip(*pairs)
        except ValueError:
            raise UsageError(
                f"--duration_schedule {text!r}: expected 'seconds:share,...', e.g. '1:0.5,2:0.3,8:0.2'."
            ) from None
        if min(durations) <= 0 or min(shares) <= 0:
            raise UsageError(f"--duration_schedule {text!r}: durations and shares must be > 0.")
        if abs(sum(shares) - 1) > 1e-6:
            raise UsageError(f"--duration_schedule {text!r}: shares add up to {sum(shares):g}, not 1.")
        return cls(tuple(durations), tuple(shares))

    @property
    def longest(self) -> float:
        return max(self.durations)

    def duration_at(self, step: int, total_steps: int) -> float:
        """The max duration in force at update `step` (0-based) of `total_steps`."""
        ends = [share * total_steps for share in itertools.accumulate(self.shares)]
        return self.durations[min(bisect.bisect_right(ends, step), len(self.durations) - 1)]

    def slug(self) -> str:
        return "-".join(f"{d:g}s{round(s * 100)}" for d, s in zip(self.durations, self.shares))


@dataclass(frozen=True)
class GumbelTemperature:
    """The quantizer's gumbel-softmax temperature: `start` at the first update, decaying by `decay` per update,
    down to `floor`."""

    start: float
    floor: float
    decay: float

    def at(self, step: int) -> float:
        return max(self.start * self.decay**step, self.floor)
