"""A CPU run computes on every core it may use unless the user chose a thread count: accelerate's default
OMP_NUM_THREADS=1 is told from a user's by the launcher's own command line and initial environment."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from helpers import REPO, SCRIPTS, launch_command


@pytest.mark.parametrize(("user_env", "expected"), [({}, len(os.sched_getaffinity(0))), ({"OMP_NUM_THREADS": "1"}, 1)])
def test_the_readmes_job_launched_as_written_trains_on_every_core_unless_told(tmp_path, user_env, expected):
    """`accelerate launch run_pretrain.py` as the README writes it (no --cpu, so accelerate writes its default
    OMP_NUM_THREADS=1 into the child); and with the user's OMP_NUM_THREADS=1, which is kept."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "ACCELERATE_USE_CPU")}
    env |= {"HF_HUB_OFFLINE": "1", **user_env}
    result = subprocess.run(
        launch_command(
            ["--max_duration", "1", "--max_train_steps", "1", "--output_dir", str(tmp_path / "run")],
            processes=None,
            script=SCRIPTS / "threads_in_run.py",
        ),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"CPU threads for torch: {expected} (" in result.stderr
    assert f"threads during training: {expected}" in result.stdout


def test_a_probe_scores_the_same_in_the_sweeps_process_as_launched(tmp_path, monkeypatch):
    """The same kws probe of the same upstream, launched as the sweep launches it and run in this process as the
    sweep runs it where a launch would start one plain process: the same thread count, so the same scores."""
    from hf_seqlen.cli import downstream_main
    from hf_seqlen.study.arm import Arm
    from hf_seqlen.study.job import Job, setting
    from hf_seqlen.study.sweep import PlannedJob, run_job
    from tiny_upstreams import save_upstream

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    upstream = save_upstream(tmp_path / "upstream")
    scores = {}
    for where, here in (("launched", None), ("here", downstream_main)):
        job = Job(
            "downstream",
            (
                setting("task", "kws"),
                setting("model_name_or_path", upstream),
                setting("output_dir", tmp_path / where),
                setting("freeze_upstream"),
                setting("max_steps", 40),
                setting("disable_tqdm", "true"),
            ),
        )
        run_job(PlannedJob(f"kws {where}", Arm("tiny", 1.0), "kws", job, tmp_path / f"{where}.log"), None, here=here)
        results = json.loads((tmp_path / where / "results.json").read_text())
        timing = ("runtime", "samples_per_second", "steps_per_second")
        metrics = {split: {k: v for k, v in m.items() if k not in timing} for split, m in results["metrics"].items()}
        scores[where] = (metrics, results["examples"], results["train"]["loss"])
    assert "CPU threads for torch: " in (tmp_path / "launched.log").read_text()
    assert scores["launched"][0]["test"]["accuracy"] is not None and scores["here"] == scores["launched"]
