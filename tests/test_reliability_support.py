"""Launch commands of the reliability tests, as users type them (this module holds no tests)."""

from __future__ import annotations

import os
import re
import subprocess

from conftest import ACCELERATE, REPO

# One training log line: "step 12: {"loss": 3.1, ...}".
STEP_LINE = re.compile(r"step (\d+): (\{.*\})")


def launch_command(args: list[str], processes: int = 1, launch_args: tuple[str, ...] = ()) -> list[str]:
    """`accelerate launch` on CPU: one process, or several joined over gloo (`--multi_gpu` with
    ACCELERATE_USE_CPU=1 in the environment; `--cpu` alone would start only one)."""
    placement = ["--num_processes", "1", "--cpu"] if processes == 1 else ["--multi_gpu", "--num_processes", str(processes)]
    return [ACCELERATE, "launch", *placement, "--num_machines", "1", "--mixed_precision", "no",
            "--dynamo_backend", "no", *launch_args, str(REPO / "run_pretrain.py"), *args]


def launch_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "ACCELERATE_USE_CPU": "1",
            "OMP_NUM_THREADS": "1"}


def launch(args: list[str], processes: int = 1, launch_args: tuple[str, ...] = (), timeout: int = 600):
    return subprocess.run(launch_command(args, processes, launch_args), cwd=REPO, env=launch_env(),
                          capture_output=True, text=True, timeout=timeout)


def step_losses(log: str) -> dict[int, float]:
    import json

    return {int(m.group(1)): json.loads(m.group(2))["loss"] for m in STEP_LINE.finditer(log)}
