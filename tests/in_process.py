"""The pre-training loop called in this process, as run_pretrain.py calls it: parsed options in, the log out.

One thread and the process's own Accelerate state, so a run is repeatable to the bit on one machine; the
signal handlers a run installs and the log level it needs are put back afterwards."""

from __future__ import annotations

import io
import logging
import os
import signal
from pathlib import Path

import torch
from accelerate.state import AcceleratorState

from hf_seqlen.args import parse_args
from hf_seqlen.preemption import STOP_SIGNALS
from hf_seqlen.pretrain import pretrain


def pretrain_in_process(argv: list[str]) -> str:
    """Run `run_pretrain.py ARGV` here on the CPU, with one thread; returns what the run logged."""
    use_cpu = os.environ.get("ACCELERATE_USE_CPU")
    os.environ["ACCELERATE_USE_CPU"] = "1"
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    package_logger = logging.getLogger("hf_seqlen")
    level, threads = package_logger.level, torch.get_num_threads()
    handlers = {stop_signal: signal.getsignal(stop_signal) for stop_signal in STOP_SIGNALS}
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.INFO)
    torch.set_num_threads(1)
    AcceleratorState._reset_state(reset_partial_state=True)
    try:
        pretrain(*parse_args([*argv, "--mixed_precision", "no"]))
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
    return log.getvalue()


def model_weights(output_dir: Path) -> bytes:
    return (output_dir / "model.safetensors").read_bytes()
