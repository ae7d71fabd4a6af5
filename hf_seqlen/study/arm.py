"""A sweep's arm: the audio length one of its pre-trainings crops to, fixed or as a length schedule (curriculum).
Made here from the sweep's --durations and --duration_schedules; the plan, the jobs and the report read it."""

from __future__ import annotations

from dataclasses import dataclass

from ..pretrain.schedule import DurationSchedule


@dataclass(frozen=True)
class Arm:
    name: str  # its folder under the sweep's output_dir and its row of the report
    max_duration: float  # seconds: the crop length, or the schedule's longest
    schedule: str = ""  # run_pretrain's --duration_schedule, as typed; "" for a fixed length

    @classmethod
    def fixed(cls, seconds: float) -> Arm:
        return cls(f"{seconds:g}s", seconds)

    @classmethod
    def curriculum(cls, text: str) -> Arm:
        schedule = DurationSchedule.parse(text)
        return cls(f"curriculum-{schedule.slug()}", schedule.longest, text)

    def phases(self) -> list[tuple[float, float]]:
        """(crop seconds, share of the updates) of each length the arm trains on."""
        if self.schedule:
            schedule = DurationSchedule.parse(self.schedule)
            return list(zip(schedule.durations, schedule.shares))
        return [(self.max_duration, 1.0)]
