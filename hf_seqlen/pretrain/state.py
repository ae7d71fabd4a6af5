"""What a pre-training run keeps track of as it goes: where it is (saved in checkpoints), the named sums of an update,
of a log interval and of a validation, the updates skipped for a non-finite gradient, and the bad audio files met."""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object

from ..corpus.audio import BadAudioError
from .checkpoints import complete_checkpoints

logger = logging.getLogger("hf_seqlen.pretrain.loop")  # the loop's messages, under one name


@dataclass
class RunState:
    """Where the run is. A checkpoint saves it in progress.json, beside the model, optimizer and RNG states."""

    num_processes: int = 1  # the processes the place below is counted for
    step: int = 0  # optimizer updates done
    epoch: int = 0  # crop plans started on this process: one per pass over its data or per new crop length
    batches_done: int = 0  # of the current epoch's batches, on this process
    initial_eval: dict | None = None  # validation before the first update

    @classmethod
    def saved_in(cls, progress: dict, process_index: int = 0) -> RunState:
        """`process_positions` holds each process's epoch and batch (streamed shards differ in length, so one
        process can be an epoch ahead); a checkpoint written before it has the first process's for all."""
        known = {field.name for field in dataclasses.fields(cls)}
        run = cls(**{name: value for name, value in progress.items() if name in known})
        if "process_positions" in progress:
            position = progress["process_positions"][process_index]
            run.epoch, run.batches_done = position["epoch"], position["batches_done"]
        return run

    def on_processes(self, num_processes: int) -> None:
        """The same place in the epoch's crop plan, counted for another number of processes, each at the same
        place (map-style data). `data.shard_batches` deals an epoch's batches out in turns, so the first k batches
        of each of N processes are the epoch's first k x N, whatever N is: the new processes go on from there,
        rounded up to a whole turn of theirs. So no batch is trained twice, fewer than one per process is left out
        of the epoch, and an epoch finished on the old count is finished on the new one."""
        self.batches_done = math.ceil(self.batches_done * self.num_processes / num_processes)
        self.num_processes = num_processes

    def start_epoch(self) -> None:
        """A new crop plan starts at its first batch."""
        self.epoch += 1
        self.batches_done = 0


class Sums:
    """Figures summed under their names. Those the device computes stay on it, in one float64 tensor: adding to them
    never waits for the device, and one all-reduce sums them over the processes when the host reads them. Those
    the host counts are numbers. A kind of sums names its figures (`UpdateSums`, `ValidationSums`)."""

    on_device: tuple[str, ...] = ()
    on_host: tuple[str, ...] = ()

    def __init__(self, device: torch.device):
        self.device_sums = torch.zeros(len(self.on_device), dtype=torch.float64, device=device)
        self.host_sums = [0.0] * len(self.on_host)

    def add(self, **figures: torch.Tensor | float) -> None:
        """Each figure to its sum: a tensor (never read back here) or a number the host has."""
        for name, value in figures.items():
            if name in self.on_host:
                self.host_sums[self.on_host.index(name)] += value
            else:
                self.device_sums[self.on_device.index(name)].add_(value)

    def add_sums(self, other: Sums) -> None:
        self.device_sums += other.device_sums
        self.host_sums = [total + value for total, value in zip(self.host_sums, other.host_sums)]

    def take(self, accelerator: Accelerator) -> dict[str, float]:
        """Every figure by name, and the sums back to zero: the device's summed over every process (the host waits
        for the device here), the host's as they were counted."""
        total = {
            **dict(zip(self.on_device, accelerator.reduce(self.device_sums, "sum").tolist())),
            **dict(zip(self.on_host, self.host_sums)),
        }
        self.device_sums.zero_()
        self.host_sums = [0.0] * len(self.on_host)
        return total


class UpdateSums(Sums):
    """What an update sums (`loop.accumulate_gradients`); a log line's figures are made of them. The device sums this
    process's model outputs over its micro-batches, and the feature penalty; the host counts what the batches of
    every process held, summed over the processes before the update (`HostChannel`)."""

    model_outputs = ("loss", "contrastive_loss", "diversity_loss", "codevector_perplexity")
    on_device = (*model_outputs, "feature_penalty")
    on_host = ("masked_frames", "audio_seconds", "batches")

    def add_outputs(self, outputs, penalty: torch.Tensor | None) -> None:
        """A micro-batch's model outputs (`objective.PretrainingOutputs`) and its feature penalty, None when off."""
        figures = {name: getattr(outputs, name).detach() for name in self.model_outputs}
        if penalty is not None:
            figures["feature_penalty"] = penalty.detach()
        self.add(**figures)


class ValidationSums(Sums):
    """What validation sums over its batches on every process: the losses, the masked frames whose target scored
    above every distractor, and the masked frames, counted by the host and added once at the end."""

    on_device = ("loss", "contrastive_loss", "correct", "masked_frames")

    def metrics(self, accelerator: Accelerator) -> dict[str, float]:
        """Every process's sums as losses and accuracy per masked frame."""
        total = self.take(accelerator)
        masked = max(total["masked_frames"], 1)
        return {
            "eval_loss": total["loss"] / masked,
            "eval_contrastive_loss": total["contrastive_loss"] / masked,
            "eval_accuracy": total["correct"] / masked,
        }


class IntervalSums:
    """The updates' sums between two log lines, kept on the device between them: one all-reduce per log line."""

    def __init__(self, device: torch.device, wall_clock_seconds: float):
        self.total = UpdateSums(device)  # of the updates so far
        self.started = wall_clock_seconds

    def add(self, update_sums: UpdateSums) -> None:
        self.total.add_sums(update_sums)

    def take(self, accelerator: Accelerator, wall_clock_seconds: float) -> dict:
        """Every process's sums as a log line's losses and rates; the next interval starts now, from zero."""
        total = self.total.take(accelerator)
        seconds, self.started = wall_clock_seconds - self.started, wall_clock_seconds
        frames = total["masked_frames"]
        # The model's loss; a feature penalty (off by default) is added to what is minimised and shown apart.
        penalty = {"feature_penalty": total["feature_penalty"] / frames} if total["feature_penalty"] else {}
        return {
            "loss": total["loss"] / frames,
            "contrastive_loss": total["contrastive_loss"] / frames,
            "diversity_loss": total["diversity_loss"] / frames,
            **penalty,
            "codevector_perplexity": total["codevector_perplexity"] / total["batches"],
            "audio_seconds_per_second": total["audio_seconds"] / max(seconds, 1e-9),
        }


class NonfiniteUpdates:
    """The run's count of updates skipped because their gradient was not finite. The optimizer drops such a
    gradient itself (`found_inf`), so the newest counts stay on the device until the host next reads them, at a log
    line, a checkpoint or the end: there each skip is reported and counted in `skipped`, and too many in a row stop
    the run."""

    def __init__(self, limit: int, output_dir: Path, device: torch.device):
        self.limit, self.output_dir = limit, output_dir
        self.skipped = 0  # every update skipped, as the host last read them (checkpoints and costs.json keep it)
        # since the last read: updates dropped, the longest run of them in a row; and the current run of them
        self.dropped, self.most_in_a_row, self.in_a_row = torch.zeros(3, device=device).unbind()
        self.read_after_step = 0

    def note(self, grad_norm: torch.Tensor) -> torch.Tensor:
        """1.0 if this update's gradient is not finite, else 0.0: a device tensor, as the optimizer takes it."""
        found = (~torch.isfinite(grad_norm)).float()
        self.in_a_row = (self.in_a_row + 1) * found  # back to 0 after a finite update
        self.most_in_a_row = torch.maximum(self.most_in_a_row, self.in_a_row)
        self.dropped = self.dropped + found
        return found

    def read(self, step: int) -> int:
        """The updates dropped since the last read, each reported; stops the run after too many in a row."""
        dropped, most_in_a_row = (int(n) for n in torch.stack([self.dropped, self.most_in_a_row]).tolist())
        first, self.read_after_step = self.read_after_step + 1, step
        self.dropped, self.most_in_a_row = self.dropped * 0, self.in_a_row.clone()  # a streak goes on counting
        if dropped:
            logger.warning(
                "non-finite gradient in %d of updates %d-%d: update skipped (at most %d in a row)",
                dropped,
                first,
                step,
                most_in_a_row,
            )
        if most_in_a_row >= self.limit:
            last = complete_checkpoints(self.output_dir)
            resume_hint = (
                f"The last checkpoint, {last[-1]}, is intact: resume from it with --resume_from_checkpoint latest"
                if last
                else "No checkpoint was written yet"
            )
            raise FloatingPointError(
                f"{most_in_a_row} updates in a row had a non-finite loss or gradient (by step {step}). "
                f"{resume_hint}. Try a lower --learning_rate, a smaller --max_grad_norm, or --mixed_precision bf16 "
                "instead of fp16."
            )
        self.skipped += dropped
        return dropped


class BadAudioLog:
    """Files found bad, by name with the reason: at selection, or when a batch's crop failed to decode.
    --on_bad_audio error stops at the first one met in a batch; skip logs each once and counts it."""

    def __init__(self, on_bad_audio: str, found: dict[str, str] | None = None):
        self.on_bad_audio = on_bad_audio
        self.files: dict[str, str] = dict(found or {})

    def __len__(self) -> int:
        return len(self.files)

    def note(self, batch: dict) -> None:
        for name, reason in batch["bad_audio"]:
            if self.on_bad_audio == "error":
                raise BadAudioError(name, reason)
            if name not in self.files:
                logger.warning("skipping bad audio %s: %s", name, reason)
                self.files[name] = reason

    def add(self, found: dict[str, str]) -> None:
        self.files.update(found)

    def merge_processes(self) -> None:
        """Each process meets the bad files among its own crops; every process learns them all."""
        for found in gather_object([self.files]):
            self.files.update(found)
