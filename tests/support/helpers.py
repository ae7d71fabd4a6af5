"""Plain helpers shared by the tests: the repository root, real audio files, `accelerate launch` of the
scripts as a user types it, and reading a run's log. Fixtures live in conftest.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "scripts"  # run under `accelerate launch` by the tests
ACCELERATE = str(Path(sys.executable).with_name("accelerate"))
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
HF_SEQLEN = str(Path(sys.executable).with_name("hf-seqlen"))
# A short run of the demo corpus, logging every update: 1 s crops two at a time, 8 validation clips, FLOPs counted at
# the first update only.
FAST = [
    "--max_duration",
    "1",
    "--per_device_train_batch_size",
    "2",
    "--max_eval_samples",
    "8",
    "--flops_counted_steps",
    "1",
    "--logging_steps",
    "1",
]
# The session's pre-trained checkpoint (tests/conftest.py), all but --output_dir: a test that resumes it runs these.
SESSION_RUN = ["--max_duration", "2", "--max_train_steps", "60", "--logging_steps", "10", "--save_steps", "20"]


def write_tone(path: Path, seconds: float, rate: int = 16000, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A speech-like test signal (modulated tones plus noise), written with soundfile."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 400) * t) * np.sin(2 * np.pi * 3 * t)
    mono += 0.05 * rng.standard_normal(len(t))
    samples = np.stack([mono * (1 + 0.1 * c) for c in range(channels)], axis=1) if channels > 1 else mono
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples.astype(np.float32), rate)
    return samples.astype(np.float32)


def launch_command(
    args: list[str],
    processes: int | None = 1,
    launch_args: tuple[str, ...] = (),
    script: Path = REPO / "run_pretrain.py",
) -> list[str]:
    """`accelerate launch ... SCRIPT ARGS` on CPU, as a user types it: one process, or several joined over gloo
    (`--multi_gpu` with ACCELERATE_USE_CPU=1; `--cpu` alone would start only one). Several processes run the script
    through a check that each one left its process group. With `processes=None`, `accelerate launch SCRIPT ARGS`
    as the README writes it: accelerate chooses the rest."""
    if processes is None:
        return [ACCELERATE, "launch", *launch_args, str(script), *args]
    # Several processes meet on a free port, not the default 29500: tests run side by side under xdist.
    placement = (
        ["--num_processes", "1", "--cpu"]
        if processes == 1
        else ["--multi_gpu", "--num_processes", str(processes), "--main_process_port", str(free_port())]
    )
    check = [] if processes == 1 else [str(SCRIPTS / "leaves_process_group.py")]
    return [
        ACCELERATE,
        "launch",
        *placement,
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        *launch_args,
        *check,
        str(script),
        *args,
    ]


def torchrun_command(script: Path, args: list[str], processes: int = 2) -> list[str]:
    """`torchrun` of SCRIPT ARGS on this machine: `accelerate launch --cpu` starts lone processes where there is no
    GPU, torchrun joins them (the script makes its own Accelerator)."""
    return [TORCHRUN, "--nproc_per_node", str(processes), "--master_port", str(free_port()), str(script), *args]


def free_port() -> int:
    """A TCP port no one listens on now, for a process group's rendezvous."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_downstream(args: list[str], processes: int, timeout: int = 900) -> subprocess.CompletedProcess:
    """`accelerate launch ... run_downstream.py ARGS`."""
    command = launch_command(["--disable_tqdm", "true", *args], processes, script=REPO / "run_downstream.py")
    env = {**launch_env(processes), "HF_EVALUATE_OFFLINE": "1"}
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def launch_env(processes: int = 1) -> dict[str, str]:
    """Offline, as on these machines; several processes get one thread each to share two cores."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "ACCELERATE_USE_CPU": "1"}
    return {**env, "OMP_NUM_THREADS": "1"} if processes > 1 else env


def run_accelerate(
    args: list[str], processes: int = 1, launch_args: tuple[str, ...] = (), timeout: int = 600, cwd: Path = REPO
) -> subprocess.CompletedProcess:
    return subprocess.run(
        launch_command(args, processes, launch_args),
        cwd=cwd,
        env=launch_env(processes),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def logged_steps(log: str) -> dict[int, dict]:
    """The metrics of each `step N: {...}` log line of a run."""
    steps = {}
    for line in log.splitlines():
        if match := re.search(r"step (\d+): (\{\".*\})$", line):  # JSON training lines, not eval dicts
            steps[int(match.group(1))] = json.loads(match.group(2))
    return steps


def assert_resume_continues_uninterrupted(
    tmp_path: Path, args: list[str], stopped_at: int, processes: int = 1
) -> subprocess.CompletedProcess:
    """Train `args` whole, then again from only its checkpoint-`stopped_at` (a run stopped there):
    the resumed updates log the uninterrupted run's losses and end in the same weights. Returns the whole run."""
    whole = run_accelerate([*args, "--output_dir", str(tmp_path / "whole")], processes)
    assert whole.returncode == 0, whole.stderr[-3000:]
    (tmp_path / "resumed").mkdir()
    checkpoint = f"checkpoint-{stopped_at}"
    shutil.copytree(tmp_path / "whole" / checkpoint, tmp_path / "resumed" / checkpoint)
    resumed = run_accelerate(
        [*args, "--output_dir", str(tmp_path / "resumed"), "--resume_from_checkpoint", "latest"], processes
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    expected = {step: line["loss"] for step, line in logged_steps(whole.stderr).items() if step > stopped_at}
    assert expected, "log every step (--logging_steps 1) to compare the runs"
    assert {step: line["loss"] for step, line in logged_steps(resumed.stderr).items()} == pytest.approx(
        expected, rel=1e-6
    )
    assert (tmp_path / "resumed" / "model.safetensors").read_bytes() == (
        tmp_path / "whole" / "model.safetensors"
    ).read_bytes()
    return whole


def assert_gradients_close(actual: dict, expected: dict, share: float = 1e-5) -> None:
    """Gradients equal up to summation order: multi-threaded convolution backward and all-reduces sum in
    varying orders (two plain runs differ by up to about 1e-6 of the largest gradient). Measured against
    the model's largest gradient, since some are zero but for rounding (the key bias, which softmax ignores)."""
    assert actual.keys() == expected.keys()
    scale = max(gradient.abs().max() for gradient in expected.values())
    for name, gradient in expected.items():
        assert (actual[name] - gradient).abs().max() <= share * scale, name


def start_until_logged(
    command: list[str], env: dict, log: Path, text: str, timeout: float = 400, **popen
) -> subprocess.Popen:
    """`command` in the background, returned once `text` shows in its log (the run is then mid-training)."""
    running = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"), **popen)
    wait_until_logged(log, text, timeout, running)
    return running


def wait_until_logged(log: Path, text: str, timeout: float, running: subprocess.Popen | None = None) -> None:
    """Return once `text` shows in `log`; fail after `timeout` s, or when `running` (if given) ends first."""
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert running is None or running.poll() is None, f"the run ended before {text!r}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {text!r} in {timeout:g} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by its path relative to it: two folders compare equal when their files do."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def task_of(model, processor) -> SimpleNamespace:
    """A task as make_trainer reads it: the model and the processor saved with it, no metrics while training."""
    return SimpleNamespace(model=model, processor=processor, compute_metrics=None, keep_from_logits=None)
