"""The benchmark harness runs end to end in its smallest configuration and writes its files.

No timing is checked: these numbers come from a few steps on a shared machine and mean nothing.
"""

import json
import os
import subprocess
import sys

import torch

from conftest import REPO

MEASUREMENTS = ("data_pipeline", "scaling", "overhead", "reference", "gpu")


def test_smoke_run_writes_results_report_and_plot(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--output_dir", str(tmp_path)],
        cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]

    for name in MEASUREMENTS:
        saved = json.loads((tmp_path / "results" / f"{name}.json").read_text())
        assert saved["profile"] == "smoke" and saved["machine"]["cpu_cores"] >= 1
    assert (tmp_path / "results" / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    report = (tmp_path / "RESULTS.md").read_text()
    cpu_model = json.loads((tmp_path / "results" / "gpu.json").read_text())["machine"]["cpu_model"]
    assert cpu_model in report
    for headline in ("faster than decoding the whole file", "Overhead of the real training loop",
                     "Against the usual approach"):
        assert headline in report
    if not torch.cuda.is_available():
        assert "not measured: no GPU on this machine" in report


def test_trial_profiles_never_write_the_committed_record():
    from benchmarks.__main__ import default_output_dir

    record = REPO / "benchmarks"
    assert default_output_dir("full") == record
    for trial in ("quick", "smoke"):
        folder = default_output_dir(trial)
        assert folder != record and record in folder.parents
        assert subprocess.run(["git", "check-ignore", "-q", str(folder / "RESULTS.md")], cwd=REPO).returncode == 0
