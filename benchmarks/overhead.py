"""Overhead: a training step of the real loop (`hf_seqlen.pretrain.loop.pretrain`: loader, collator, loss
normalised over masked frames, gumbel decay, clipping, scheduler, logging) against the model's bare
forward, backward and AdamW update on the same batches, pre-built as tensors.

The two arms alternate inside one run, so a shared machine's load drifts over both alike: each time
the loop logs its metrics (every `logging_steps` updates) the bare arm trains a second copy of the
model on the next `logging_steps` pre-built batches. The real loop's time for an interval is the
time between two of its log lines, less the time the bare arm took in between. Set-up, validation
and saving fall outside every interval.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import torch
from accelerate import Accelerator

from hf_seqlen.pretrain.args import DataArguments, ModelArguments, PretrainingArguments
from hf_seqlen.pretrain.loaders import loader_workers
from hf_seqlen.pretrain.loop import pretrain
from hf_seqlen.pretrain.run import load_model

from .common import demo_split, median_interval, paired_ratio, real_loader, spread, train_step
from .profiles import Profile

SEED = 42


class AlternatingClock(logging.Handler):
    """At each metrics log line of the loop ("step %d: {json}"), closes the loop's interval and runs
    the bare arm, whose own time is kept out of the next interval."""

    def __init__(self, bare_arm: Callable[[int], float]) -> None:
        super().__init__(logging.INFO)
        self.bare_arm = bare_arm
        self.loop_seconds: list[float] = []  # per interval, bare time removed
        self.bare_seconds: list[float] = []
        self.last: tuple[int, float] | None = None  # (step, time the loop resumed)

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg != "step %d: %s" or not isinstance(record.args[1], str):
            return  # validation lines carry a dict
        now, step = time.perf_counter(), record.args[0]
        if self.last is not None:
            self.loop_seconds.append((now - self.last[1]) / (step - self.last[0]))
        bare = self.bare_arm(step)
        if self.last is not None:  # the first bare chunk warms the second model up
            self.bare_seconds.append(bare)
        self.last = (step, time.perf_counter())

    def paired(self) -> tuple[list[float], list[float]]:
        """Loop interval k against the bare chunk run right after it."""
        count = min(len(self.loop_seconds), len(self.bare_seconds))
        return self.loop_seconds[:count], self.bare_seconds[:count]


def arguments(profile: Profile, output_dir: Path) -> tuple[ModelArguments, DataArguments, PretrainingArguments]:
    """The default run (2 s crops, 8 per batch, demo corpus), stopped after the measured steps."""
    return (
        ModelArguments(config_name=profile.overhead_config),
        DataArguments(max_duration=2.0),
        PretrainingArguments(
            output_dir=str(output_dir),
            overwrite_output_dir=True,
            seed=SEED,
            logging_steps=profile.overhead_logging_steps,
            max_train_steps=profile.overhead_logging_steps + profile.overhead_steps,
        ),
    )


def prebuilt_batches(profile: Profile) -> list[dict]:
    """The batches the real loop trains on, from the same loader: item k is the batch of step k + 1."""
    _, data_args, args = arguments(profile, Path("unused"))
    loader, sampler = real_loader(
        demo_split(data_args), data_args, profile.overhead_config, args.per_device_train_batch_size, seed=SEED
    )
    batches, epoch = [], 0
    while len(batches) < args.max_train_steps:
        sampler.set_epoch(epoch)
        batches.extend(loader)
        epoch += 1
    return batches[: args.max_train_steps]


def run(profile: Profile, workdir: Path) -> dict:
    model_args, _, args = arguments(profile, workdir)
    torch.manual_seed(SEED)
    model, _ = load_model(model_args)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # where `pretrain` trains
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    batches = prebuilt_batches(profile)
    interval = args.logging_steps

    def bare_seconds_per_step(step: int) -> float:
        chunk = [batches[(step + i) % len(batches)] for i in range(interval)]  # steps step+1 .. step+interval
        started = time.perf_counter()
        for batch in chunk:
            train_step(model, optimizer, batch, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - started) / interval

    loop_seconds, bare_seconds = [], []
    for _ in range(profile.overhead_repeats):
        clock = AlternatingClock(bare_seconds_per_step)
        loop_logger = logging.getLogger("hf_seqlen.pretrain.loop")
        loop_logger.addHandler(clock)
        loop_logger.setLevel(logging.INFO)  # its metrics lines, whatever the process's logging
        loop_logger.propagate = False  # keep the benchmark's console readable
        try:
            pretrain(*arguments(profile, workdir / "overhead_run"))
        finally:
            loop_logger.removeHandler(clock)
            loop_logger.setLevel(logging.NOTSET)
            loop_logger.propagate = True
        loop, bare = clock.paired()
        loop_seconds += loop
        bare_seconds += bare
    ratios = paired_ratio(loop_seconds, bare_seconds)
    overheads = [100 * (r - 1) for r in ratios["values"]]
    return {
        "config_name": profile.overhead_config,
        "max_duration": 2.0,
        "batch_size": args.per_device_train_batch_size,
        "logging_steps": interval,
        "measured_steps": len(loop_seconds) * interval,
        # what the default (--dataloader_num_workers unset) chose on this device
        "dataloader_num_workers": loader_workers(DataArguments(), Accelerator(cpu=device.type == "cpu")),
        "real_loop_seconds_per_step": spread(loop_seconds),
        "bare_seconds_per_step": spread(bare_seconds),
        "overhead_percent": spread(overheads),
        "overhead_percent_interval": median_interval(overheads),  # of the median round
    }
