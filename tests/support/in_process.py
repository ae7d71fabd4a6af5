"""The pre-training loop called in this process, as run_pretrain.py calls it: parsed options in, the log out;
or only a built run, to reach one update without a launch.

One thread and the process's own Accelerate state, so a run is repeatable to the bit on one machine; the
signal handlers a run installs and the log level it needs are put back afterwards."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
from collections.abc import Iterator

import torch
from accelerate.state import AcceleratorState

from hf_seqlen.pretrain.args import parse_args
from hf_seqlen.pretrain.loop import pretrain
from hf_seqlen.pretrain.preemption import STOP_SIGNALS
from hf_seqlen.pretrain.run import PretrainingRun, build_run


@contextlib.contextmanager
def on_one_cpu_thread(log: io.StringIO) -> Iterator[None]:
    """A run's settings here: the CPU, one thread, the package's log into `log`; all put back after."""
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    package_logger = logging.getLogger("hf_seqlen")
    level, threads = package_logger.level, torch.get_num_threads()
    handlers = {stop_signal: signal.getsignal(stop_signal) for stop_signal in STOP_SIGNALS}
    use_cpu = os.environ.get("ACCELERATE_USE_CPU")
    os.environ["ACCELERATE_USE_CPU"] = "1"
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.INFO)
    torch.set_num_threads(1)
    AcceleratorState._reset_state(reset_partial_state=True)
    try:
        yield
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        if use_cpu is None:
            del os.environ["ACCELERATE_USE_CPU"]
        else:
            os.environ["ACCELERATE_USE_CPU"] = use_cpu
        torch.set_num_threads(threads)
        package_logger.removeHandler(handler)
        package_logger.setLevel(level)
        for stop_signal, previous in handlers.items():
            signal.signal(stop_signal, previous)


def pretrain_in_process(argv: list[str]) -> str:
    """Run `run_pretrain.py ARGV` here on the CPU, with one thread; returns what the run logged."""
    log = io.StringIO()
    with on_one_cpu_thread(log):
        pretrain(*parse_args([*argv, "--mixed_precision", "no"]))
    return log.getvalue()


@contextlib.contextmanager
def built_run(argv: list[str]) -> Iterator[PretrainingRun]:
    """The run `run_pretrain.py ARGV` would train, built here on the CPU, before its first update."""
    with on_one_cpu_thread(io.StringIO()):
        yield build_run(*parse_args([*argv, "--mixed_precision", "no"]))
