"""Stopping when the cluster asks, and saving on a clock.

SLURM and other schedulers send SIGTERM (or the signal named by `--signal`) some time before they
kill a job. On SIGTERM, SIGUSR1 or SIGINT the current update finishes, every process writes its part
of a checkpoint, and each exits with PREEMPTED_EXIT_STATUS. A second signal exits at once.

A signal may reach only one process, and wall clocks differ between processes, so the processes
agree on two numbers, "a signal came" and "--save_minutes have passed": they ride in the one all-reduce of host
numbers that every update makes before its forward pass (`process_group.HostChannel`), and the checkpoint
follows that update. Every process gets the same answer without waiting on its device.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time

logger = logging.getLogger("hf_seqlen.pretrain.preemption")

# EX_TEMPFAIL (sysexits.h): the run stopped part-way and can go on with --resume_from_checkpoint latest.
PREEMPTED_EXIT_STATUS = 75
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)

STEPS, MINUTES, PREEMPTED = "save_steps", "save_minutes", "preempted"


class Preemption:
    """Notes the first stop signal; a second one ends the process at once."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self.pid = os.getpid()

    def install(self) -> Preemption:
        for stop_signal in STOP_SIGNALS:
            signal.signal(stop_signal, self._handle)
        return self

    def _handle(self, signum: int, frame) -> None:
        if os.getpid() != self.pid:
            return  # a forked child (a DataLoader worker before its worker_init_fn): the main process decides
        name = signal.Signals(signum).name
        if self.signal_name is not None:
            os.write(2, f"hf_seqlen: second stop signal ({name}): exiting now, without a checkpoint.\n".encode())
            os._exit(128 + signum)
        self.signal_name = name
        # Only a flag here: the loop checks it between updates, where saving is safe.
        os.write(
            2,
            f"hf_seqlen: {name} received: finishing this update, then checkpointing and exiting "
            f"(send it again to exit at once).\n".encode(),
        )


def ignore_stop_signals(worker_id: int) -> None:
    """DataLoader worker_init_fn. A stop signal sent to the whole process group (Ctrl-C, SLURM) would
    kill the workers, and the update the main process is finishing would lose its batches. The
    workers still end with the loader, or when the main process is gone."""
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)


class SaveTriggers:
    """Whether to checkpoint after this update: --save_steps, --save_minutes, or a stop signal."""

    def __init__(self, save_steps: int | None, save_minutes: float | None, preemption: Preemption) -> None:
        self.save_steps = save_steps
        self.save_seconds = save_minutes * 60 if save_minutes else None
        self.preemption = preemption
        self.last_save = time.monotonic()

    def flags(self) -> list[float]:
        """What this process knows now: a stop signal came, --save_minutes have passed. Summed over every
        process (an update's HostChannel), then read by `reason`."""
        clock_due = self.save_seconds is not None and time.monotonic() - self.last_save >= self.save_seconds
        return [float(self.preemption.signal_name is not None), float(clock_due)]

    def reason(self, step: int, agreed_flags: list[float]) -> str | None:
        """Why to checkpoint after update `step`, from the flags every process summed; None if not due."""
        stop, minutes = (flag > 0 for flag in agreed_flags)
        reason = (
            PREEMPTED
            if stop
            else MINUTES
            if minutes
            else STEPS
            if self.save_steps and step % self.save_steps == 0
            else None
        )
        if reason:
            self.last_save = time.monotonic()
        return reason

    @staticmethod
    def exit_if_preempted(reason: str | None, accelerator, checkpoint) -> None:
        """After the checkpoint of a stop signal: every process leaves with PREEMPTED_EXIT_STATUS."""
        if reason != PREEMPTED:
            return
        accelerator.wait_for_everyone()
        logger.warning(
            "stopped by a signal after %s; resume with --resume_from_checkpoint latest (exit status %d).",
            checkpoint,
            PREEMPTED_EXIT_STATUS,
        )
        for tracker in accelerator.trackers:
            tracker.finish()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        # No interpreter teardown: destroying a gloo group mid-run can hang, and nothing is left to write.
        os._exit(PREEMPTED_EXIT_STATUS)
