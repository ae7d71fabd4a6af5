"""What a run cost, measured while it runs, written to costs.json."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

SCHEMA_VERSION = 1


@dataclass
class CostCounters:
    """Counts of what was fed to the model; summed over processes and carried across resumes."""

    wall_clock_seconds: float = 0.0
    audio_seconds: float = 0.0
    samples: int = 0
    encoder_frames: int = 0
    optimizer_steps: int = 0
    longest_input_seconds: float = 0.0


class CostMeter:
    """Per-process meter. `totals()` combines every process; `state_dict()` survives a resume."""

    def __init__(self) -> None:
        self.counters = CostCounters()
        self.started = time.perf_counter()

    def add_batch(self, batch: dict) -> None:
        c = self.counters
        c.audio_seconds += batch["audio_seconds"]
        c.samples += batch["num_samples"]
        c.encoder_frames += batch["frames"]
        c.longest_input_seconds = max(c.longest_input_seconds, batch["longest_seconds"])

    def add_step(self) -> None:
        self.counters.optimizer_steps += 1

    def totals(self, accelerator) -> CostCounters:
        """Every process calls this; each gets the sums over all processes."""
        c = self.counters
        sums = torch.tensor(
            [c.audio_seconds, c.samples, c.encoder_frames], dtype=torch.float64, device=accelerator.device
        )
        sums = accelerator.reduce(sums, reduction="sum")
        longest = accelerator.gather(torch.tensor([c.longest_input_seconds], device=accelerator.device)).max()
        return CostCounters(
            wall_clock_seconds=c.wall_clock_seconds + time.perf_counter() - self.started,
            audio_seconds=sums[0].item(),
            samples=int(sums[1].item()),
            encoder_frames=int(sums[2].item()),
            optimizer_steps=c.optimizer_steps,
            longest_input_seconds=longest.item(),
        )

    def state_dict(self, accelerator) -> dict:
        return asdict(self.totals(accelerator))

    def load_state_dict(self, state: dict, accelerator) -> None:
        """Totals go to the main process only, so the next reduction counts them once."""
        self.counters = CostCounters(**state)
        if not accelerator.is_main_process:
            kept_wall, kept_steps = self.counters.wall_clock_seconds, self.counters.optimizer_steps
            self.counters = CostCounters(wall_clock_seconds=kept_wall, optimizer_steps=kept_steps)
        self.started = time.perf_counter()


def cost_report(totals: CostCounters) -> dict:
    wall = totals.wall_clock_seconds
    return {
        "schema_version": SCHEMA_VERSION,
        "wall_clock_seconds": wall,
        "audio_hours": totals.audio_seconds / 3600,
        "samples": totals.samples,
        "encoder_frames": totals.encoder_frames,
        "optimizer_steps": totals.optimizer_steps,
        "longest_input_seconds": totals.longest_input_seconds,
        "audio_seconds_per_second": totals.audio_seconds / wall if wall > 0 else 0.0,
    }


def write_costs(costs: dict, output_dir: Path) -> Path:
    path = Path(output_dir) / "costs.json"
    path.write_text(json.dumps(costs, indent=2) + "\n")
    return path
