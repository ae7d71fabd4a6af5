"""The benchmark harness runs end to end in its smallest configuration and writes its files.

No timing is checked: these numbers come from a few steps on a shared machine and mean nothing.
"""

import json
import os
import random
import subprocess
import sys

import pytest

from benchmarks.common import median_interval
from hf_seqlen.args import HUB_CONFIGS
from helpers import REPO

MEASUREMENTS = ("data_pipeline", "scaling", "overhead", "reference", "whole_process")


@pytest.mark.slow
def test_smoke_run_writes_results_report_and_plot(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--output_dir", str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]

    for name in MEASUREMENTS:
        saved = json.loads((tmp_path / "results" / f"{name}.json").read_text())
        assert saved["profile"] == "smoke" and saved["machine"]["cpu_cores"] >= 1
    assert (tmp_path / "results" / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    report = (tmp_path / "RESULTS.md").read_text()
    cpu_model = json.loads((tmp_path / "results" / "scaling.json").read_text())["machine"]["cpu_model"]
    assert cpu_model in report
    for headline in (
        "faster than decoding the whole file",
        "Overhead of the real training loop",
        "Against the usual approach",
        "Whole run, start to saved model",
        "Time to the first update",
    ):
        assert headline in report
    assert not (tmp_path / "results" / "gpu.json").exists()  # only --gpu writes it


@pytest.mark.slow
def test_the_gpu_command_runs_every_part_in_its_tiny_mode(tmp_path):
    """`python -m benchmarks --gpu --tiny`: the GPU script's code on the CPU (wav2vec2-tiny, Dynamo
    without a backend for compile), so it cannot rot before a GPU runs it. Every part measures and the
    report names the device; the numbers mean nothing."""
    (tmp_path / "RESULTS.md").write_text("# Benchmarks\n\n## GPU\n\nold\n\n## Reading the numbers\n\nkept\n")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--gpu", "--tiny", "--output_dir", str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    saved = json.loads((tmp_path / "results" / "gpu.json").read_text())["results"]
    assert list(saved["parts"]) == ["scaling", "data_wait", "reference", "precision"]
    # On a loaded machine a part may reach its time limit: it then says so and keeps what it measured.
    for name, part in saved["parts"].items():
        assert part["status"] == "measured" or part["status"].startswith("stopped at its"), (name, part["status"])
    scaling, precision = saved["parts"]["scaling"], saved["parts"]["precision"]
    if scaling["status"] == "measured":
        assert [p["crop_seconds"] for p in scaling["found"] if "crop_seconds" in p] == [0.5, 1, 2]
    if precision["status"] == "measured":
        assert [p["variant"] for p in precision["found"] if "variant" in p] == [
            "eager fp32",
            "eager bf16 autocast",
            "bf16 autocast + torch.compile",
        ]
    report = (tmp_path / "RESULTS.md").read_text()
    assert saved["device"].startswith("CPU: ") and saved["device"] in report
    assert "old" not in report and report.count("## GPU") == 1 and report.endswith("## Reading the numbers\n\nkept\n")
    assert "| scaling |" in report and "| precision |" in report


@pytest.mark.slow
def test_a_part_that_fails_or_runs_out_of_time_is_recorded_and_the_rest_still_run(tmp_path):
    from benchmarks import gpu

    saves = []
    failed = gpu.run_part("no_such_part", gpu.TINY, 60, tmp_path, lambda: saves.append(1))
    assert failed["status"].startswith("failed (exit 1)") and "KeyError: 'no_such_part'" in failed["status"]
    stopped = gpu.run_part("scaling", gpu.TINY, 1, tmp_path, lambda: saves.append(1))
    assert stopped["status"] == "stopped at its 1 s limit" and saves


@pytest.mark.slow
def test_trial_profiles_never_write_the_committed_record():
    from benchmarks.__main__ import default_output_dir

    record = REPO / "benchmarks"
    assert default_output_dir("full") == record and default_output_dir("gpu") == record
    for trial in ("quick", "smoke", "gpu-tiny"):
        folder = default_output_dir(trial)
        assert folder != record and record in folder.parents
        assert subprocess.run(["git", "check-ignore", "-q", str(folder / "RESULTS.md")], cwd=REPO).returncode == 0


def test_time_to_quality_runs_only_when_named():
    from benchmarks.__main__ import parse_args

    assert "time_to_quality" not in parse_args([]).only
    assert parse_args(["--only", "time_to_quality", "--jobs", "2"]).only == ["time_to_quality"]


@pytest.mark.slow
def test_time_to_quality_smoke_run_probes_every_arm_and_reports_both_budgets(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--smoke",
            "--only",
            "time_to_quality",
            "--jobs",
            "2",
            "--output_dir",
            str(tmp_path),
        ],
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    saved = json.loads((tmp_path / "results" / "time_to_quality.json").read_text())["results"]
    (budget,) = saved["budgets"]
    arms = {row["name"]: row for row in budget["arms"]}
    assert list(arms) == [
        "example, 2 updates",
        "2s, same updates",
        "4s, same updates",
        "2s, same FLOPs",
        "4s, same FLOPs",
        "untrained",
    ]
    example = arms["example, 2 updates"]
    assert example["difference"] is None and example["flops"]["median"] > 0 and example["peak_rss_mb"]["median"] > 0
    assert arms["2s, same updates"]["updates"]["median"] == 2
    # --max_train_flops buys whole updates: the same FLOPs to within one update of 2 s crops
    same_flops = arms["2s, same FLOPs"]
    assert same_flops["updates"]["median"] > 2 and 0.9 < same_flops["flops_share_of_example"]["median"] < 1.2
    for row in arms.values():
        accuracy = row["accuracy"]
        assert accuracy["low"] <= accuracy["estimate"] <= accuracy["high"]
    assert set(budget["goal"]) == {
        "same_flops_better",
        "same_updates_flops_share",
        "same_updates_cheap_enough",
        "same_updates_non_inferior",
    }
    assert (tmp_path / "results" / "time_to_quality.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (tmp_path / "RESULTS.md").read_text()
    assert "## Time to quality against the transformers example" in report and "Time to quality against" in report
    assert "results/time_to_quality.png" in report and "Goal: at equal FLOPs" in report


def test_the_overhead_interval_covers_the_median_round_on_heavy_tailed_rounds():
    """Simulated measurements shaped as the overhead's: rounds around a true median overhead, with a lognormal
    spread and one round in ten hit by a load spike, which slows either arm's half of the round."""
    rng = random.Random(0)
    true_median, studies, covered = 4.0, 2000, 0
    for _ in range(studies):
        rounds = [
            true_median + 10 * (rng.lognormvariate(0, 0.5) - 1) + (rng.random() < 0.1) * rng.choice((-40, 40))
            for _ in range(60)
        ]
        interval = median_interval(rounds)
        covered += interval["low"] <= true_median <= interval["high"]
    assert 0.93 <= covered / studies <= 0.98


def test_the_median_interval_is_the_order_statistics_of_its_rank():
    interval = median_interval([float(v) for v in range(20)])  # ranks 6 and 15 of 20 cover the median 95.9%
    assert (interval["low"], interval["high"], interval["rounds"]) == (5.0, 14.0, 20)
    assert median_interval([1.0, 2.0, 3.0, 4.0, 5.0])["low"] is None  # five rounds cannot hold 95%


def test_the_example_refuses_a_group_norm_config_before_decoding_any_audio(tmp_path):
    """As the transformers example does: the published BASE config is group-norm, so it is refused, with the fix."""
    from benchmarks import transformers_example

    args = ["--data_dir", str(tmp_path / "no-audio-here"), "--output_dir", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as refused:
        transformers_example.main(["--model_name_or_path", str(HUB_CONFIGS / "wav2vec2-base"), *args])
    message = str(refused.value.code)
    assert "feat_extract_norm='group'" in message and "do_stable_layer_norm=True" in message
    assert "wav2vec2-base-layernorm" in message and not (tmp_path / "out").exists()


def test_every_time_to_quality_profile_gives_the_example_a_config_it_accepts():
    from transformers import Wav2Vec2Config

    from benchmarks.profiles import PROFILES
    from benchmarks.transformers_example import refusal

    for profile in PROFILES.values():
        config = Wav2Vec2Config.from_pretrained(HUB_CONFIGS / profile.ttq_config)
        assert refusal(config, profile.ttq_config) is None, profile.name
