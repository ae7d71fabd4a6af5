"""How many threads torch computes with. A CPU run gets every core this process may use, shared with the other
processes of its machine, unless the user chose a number.

`accelerate launch` writes OMP_NUM_THREADS=1 into its child's environment unless told otherwise, so the child
cannot tell accelerate's default from a user's `OMP_NUM_THREADS=1` by its own environment. The launcher can:
its command line holds `--num_cpu_threads_per_process` when the user passed it, and its initial environment
(/proc/PID/environ, as the launcher was started) holds OMP_NUM_THREADS when the user set it. Only where the
launcher is `accelerate launch` and neither is there is the child's OMP_NUM_THREADS replaced; anything else that
set OMP_NUM_THREADS (a shell, a job script, torchrun) is the user's choice and kept.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath

logger = logging.getLogger("hf_seqlen.cpu_threads")

USER_FLAG = "--num_cpu_threads_per_process"


@dataclass(frozen=True)
class Launcher:
    """The process that started this one, as it was started."""

    argv: Sequence[str]
    environ: Mapping[str, str]


@dataclass(frozen=True)
class ThreadChoice:
    threads: int | None  # None: leave torch's thread count as it is
    reason: str


def launcher() -> Launcher | None:
    """This process's parent as it was started; None where it cannot be read (gone, or another user's)."""
    import psutil

    try:
        parent = psutil.Process(os.getppid())
        return Launcher(parent.cmdline(), parent.environ())
    except (psutil.Error, OSError):
        return None


def is_accelerate_launch(argv: Sequence[str]) -> bool:
    """`accelerate launch ...`, `accelerate-launch ...` or `python -m accelerate.commands.launch ...`."""
    names = [PurePath(arg).name for arg in argv[:4]]
    return (
        "accelerate.commands.launch" in argv[:4]
        or "accelerate-launch" in names
        or any(name == "accelerate" and following == "launch" for name, following in zip(names, argv[1:5]))
    )


def available_cores(environ: Mapping[str, str]) -> tuple[int, int]:
    """The cores this process may run on, and how many processes of this machine share them."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1  # macOS
    return cores, max(1, int(environ.get("LOCAL_WORLD_SIZE", 1)))


def every_core(environ: Mapping[str, str], because: str) -> ThreadChoice:
    cores, processes = available_cores(environ)
    share = f"{cores} cores" if processes == 1 else f"{cores} cores shared by {processes} processes"
    return ThreadChoice(max(1, cores // processes), f"{because}: every core this process may use ({share})")


def choose_threads(environ: Mapping[str, str], launched_by: Launcher | None, on_cpu: bool) -> ThreadChoice:
    """The thread count for a process with this environment, started by `launched_by`."""
    given = environ.get("OMP_NUM_THREADS")
    if not on_cpu:
        # The GPU computes; the process launches kernels and loader workers decode on the other cores, so more
        # torch threads would only compete with the workers.
        return ThreadChoice(None, f"a GPU run, threads as launched (OMP_NUM_THREADS={given or 'unset'})")
    if given is None:
        return every_core(environ, "OMP_NUM_THREADS unset")
    if not given.isdigit() or int(given) < 1:
        return ThreadChoice(None, f"OMP_NUM_THREADS={given} left to OpenMP")
    if launched_by is None:
        return ThreadChoice(
            int(given),
            f"OMP_NUM_THREADS={given}; the launcher could not be read to tell accelerate's default from a choice "
            f"(`accelerate launch {USER_FLAG} N` chooses)",
        )
    if is_accelerate_launch(launched_by.argv):
        flag_given = any(arg == USER_FLAG or arg.startswith(USER_FLAG + "=") for arg in launched_by.argv)
        if flag_given:
            return ThreadChoice(int(given), f"{USER_FLAG} {given}, as given to accelerate launch")
        if "OMP_NUM_THREADS" not in launched_by.environ:
            return every_core(environ, f"OMP_NUM_THREADS={given} was accelerate launch's default")
    return ThreadChoice(int(given), f"OMP_NUM_THREADS={given}, as set before launching")


def runs_on_cpu(environ: Mapping[str, str]) -> bool:
    """Whether Accelerate will put this process on the CPU: asked to, or no accelerator to use."""
    import torch

    if environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes"):
        return True
    has_accelerator = torch.accelerator.is_available() if hasattr(torch, "accelerator") else torch.cuda.is_available()
    return not has_accelerator


def use_available_cores() -> ThreadChoice:
    """Set torch's thread count as `choose_threads` decides for this process, and log it in one line."""
    import torch

    choice = choose_threads(os.environ, launcher(), runs_on_cpu(os.environ))
    if choice.threads is not None:
        torch.set_num_threads(choice.threads)
    logger.info("CPU threads for torch: %d (%s)", torch.get_num_threads(), choice.reason)
    return choice
