"""A CPU run computes on every core it may use unless the user chose a thread count: accelerate's default
OMP_NUM_THREADS=1 is told from a user's by the launcher's own command line and initial environment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import REPO
from hf_seqlen import cpu_threads
from hf_seqlen.cpu_threads import Launcher, choose_threads, is_accelerate_launch

ACCELERATE_LAUNCH = ["/venv/bin/python", "/venv/bin/accelerate", "launch", "run_pretrain.py", "--max_duration", "2"]


SHELL = Launcher(["/bin/bash"], {"PATH": "/bin"})


@pytest.fixture
def four_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)


def test_accelerate_launchs_default_of_one_thread_becomes_every_core(four_cores):
    choice = choose_threads({"OMP_NUM_THREADS": "1"}, Launcher(ACCELERATE_LAUNCH, {"PATH": "/bin"}), on_cpu=True)
    assert choice.threads == 4
    assert "OMP_NUM_THREADS=1 was accelerate launch's default" in choice.reason and "4 cores" in choice.reason


def test_the_cores_are_shared_by_the_processes_of_the_machine(four_cores):
    environ = {"OMP_NUM_THREADS": "1", "LOCAL_WORLD_SIZE": "2"}
    choice = choose_threads(environ, Launcher(ACCELERATE_LAUNCH, {}), on_cpu=True)
    assert choice.threads == 2 and "4 cores shared by 2 processes" in choice.reason
    assert choose_threads({"LOCAL_WORLD_SIZE": "8"}, None, on_cpu=True).threads == 1  # never 0


def test_a_thread_count_set_before_launching_is_kept(four_cores):
    launched = Launcher(ACCELERATE_LAUNCH, {"OMP_NUM_THREADS": "1"})
    choice = choose_threads({"OMP_NUM_THREADS": "1"}, launched, on_cpu=True)
    assert choice.threads == 1 and choice.reason == "OMP_NUM_THREADS=1, as set before launching"


@pytest.mark.parametrize("flag", [["--num_cpu_threads_per_process", "1"], ["--num_cpu_threads_per_process=1"]])
def test_accelerates_own_thread_option_is_kept(four_cores, flag):
    argv = [*ACCELERATE_LAUNCH[:3], *flag, *ACCELERATE_LAUNCH[3:]]
    choice = choose_threads({"OMP_NUM_THREADS": "1"}, Launcher(argv, {}), on_cpu=True)
    assert choice.threads == 1 and "--num_cpu_threads_per_process 1" in choice.reason


def test_a_thread_count_from_a_shell_or_another_launcher_is_kept(four_cores):
    assert choose_threads({"OMP_NUM_THREADS": "1"}, SHELL, on_cpu=True).threads == 1
    torchrun = Launcher(["/venv/bin/python", "/venv/bin/torchrun", "--nproc_per_node", "2", "run_pretrain.py"], {})
    assert choose_threads({"OMP_NUM_THREADS": "3"}, torchrun, on_cpu=True).threads == 3


def test_unset_means_every_core_and_an_unreadable_launcher_keeps_what_is_set(four_cores):
    assert choose_threads({}, SHELL, on_cpu=True).threads == 4
    kept = choose_threads({"OMP_NUM_THREADS": "1"}, None, on_cpu=True)
    assert kept.threads == 1 and "--num_cpu_threads_per_process N" in kept.reason
    assert choose_threads({"OMP_NUM_THREADS": "4,2"}, SHELL, on_cpu=True).threads is None  # OpenMP's own syntax


def test_a_gpu_run_keeps_the_threads_it_was_launched_with(four_cores):
    choice = choose_threads({"OMP_NUM_THREADS": "1"}, Launcher(ACCELERATE_LAUNCH, {}), on_cpu=False)
    assert choice.threads is None and "GPU run" in choice.reason


@pytest.mark.parametrize(
    ("argv", "launches"),
    [
        (["/venv/bin/python", "/venv/bin/accelerate", "launch", "x.py"], True),
        (["/venv/bin/accelerate", "launch", "x.py"], True),
        (["python", "-m", "accelerate.commands.launch", "-m", "hf_seqlen.cli", "downstream"], True),
        (["python", "/venv/bin/accelerate-launch", "x.py"], True),
        (["python", "/venv/bin/accelerate", "config"], False),
        (["python", "run_pretrain.py", "--output_dir", "launch"], False),
        ([], False),
    ],
)
def test_accelerate_launch_is_recognised_in_each_of_its_spellings(argv, launches):
    assert is_accelerate_launch(argv) is launches


@pytest.mark.parametrize("sweep_env", [{}, {"OMP_NUM_THREADS": "1"}, {"OMP_NUM_THREADS": "2"}])
def test_a_probe_in_the_sweeps_process_gets_the_threads_a_launched_probe_gets(four_cores, sweep_env):
    """The sweep launches a probe with `python -m accelerate.commands.launch` (job.launch), which writes its
    OMP_NUM_THREADS (the sweep's, or 1) into the probe's environment; in the sweep's process the probe sees the
    sweep's environment. Both decide with choose_threads, to the same count."""
    from hf_seqlen.study.job import Job, launch

    command = launch(Job("downstream", (("task", ("kws",)),)), None)
    launched_env = {**sweep_env, "OMP_NUM_THREADS": sweep_env.get("OMP_NUM_THREADS", "1")}
    launched = choose_threads(launched_env, Launcher(command, sweep_env), on_cpu=True)
    here = choose_threads(sweep_env, SHELL, on_cpu=True)
    assert launched.threads == here.threads == int(sweep_env.get("OMP_NUM_THREADS", 4))


def test_the_launcher_is_read_from_the_real_parent_process():
    """A child reads its parent's command line and its environment as the parent was started."""
    code = "from hf_seqlen.cpu_threads import launcher; l = launcher(); print(l.argv[-1], l.environ.get('MARK'))"
    parent = [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {code!r}])", "x"]
    result = subprocess.run(parent, env={**os.environ, "MARK": "here"}, capture_output=True, text=True, cwd=REPO)
    assert result.stdout.split() == ["x", "here"], result.stderr


def test_use_available_cores_sets_torch_and_says_why(four_cores, monkeypatch, caplog):
    import torch

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu_threads, "runs_on_cpu", lambda environ: True)
    threads = torch.get_num_threads()
    try:
        with caplog.at_level("INFO", logger="hf_seqlen.cpu_threads"):
            choice = cpu_threads.use_available_cores()
        assert choice.threads == 4 and torch.get_num_threads() == 4
        assert caplog.messages == [
            "CPU threads for torch: 4 (OMP_NUM_THREADS unset: every core this process may use (4 cores))"
        ]
    finally:
        torch.set_num_threads(threads)
