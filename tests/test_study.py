"""The study: length schedules, the report, and the recommendation."""

import csv
import json

import pytest

from hf_seqlen.args import UsageError
from hf_seqlen.recommend import RecommendArguments, matched_length, recommend
from hf_seqlen.report import pareto_front, write_report
from hf_seqlen.schedule import DurationSchedule

from conftest import write_tone


def test_schedule_switches_length_at_the_budget_shares():
    schedule = DurationSchedule.parse("1:0.5,2:0.3,8:0.2")
    lengths = [schedule.duration_at(step, 100) for step in range(100)]
    assert lengths.count(1.0) == 50 and lengths.count(2.0) == 30 and lengths.count(8.0) == 20
    assert lengths == sorted(lengths)
    assert schedule.longest == 8.0 and schedule.slug() == "1s50-2s30-8s20"


@pytest.mark.parametrize("text", ["1:0.5,2:0.3", "1-0.5", "0:1", "2:0.5,x:0.5"])
def test_bad_schedules_are_refused_with_the_expected_form(text):
    with pytest.raises(UsageError, match="duration_schedule"):
        DurationSchedule.parse(text)


def write_arm(root, name, costs, results):
    (root / name / "pretrain").mkdir(parents=True)
    (root / name / "pretrain" / "costs.json").write_text(json.dumps(costs))
    for task, metrics in results.items():
        (root / name / task).mkdir()
        (root / name / task / "results.json").write_text(json.dumps({"task": task, "metrics": {"test": metrics}}))


@pytest.fixture
def finished_sweep(tmp_path):
    arms = [{"name": f"{d}s", "max_duration": float(d)} for d in (1, 2, 4)]
    write_arm(tmp_path, "1s", {"wall_clock_seconds": 10.0, "audio_hours": 0.1},
              {"kws": {"test_accuracy": 0.80}, "asr": {"test_wer": 0.60}})
    write_arm(tmp_path, "2s", {"wall_clock_seconds": 20.0, "audio_hours": 0.2},
              {"kws": {"test_accuracy": 0.78}, "asr": {"test_wer": 0.50}})
    write_arm(tmp_path, "4s", {"wall_clock_seconds": 40.0, "audio_hours": 0.4},
              {"kws": {"test_accuracy": 0.81}, "asr": {"test_wer": 0.45}})
    return tmp_path, arms


def test_report_rows_carry_the_runs_numbers(finished_sweep):
    root, arms = finished_sweep
    write_report(root, arms, ["kws", "asr"])
    with open(root / "report.csv") as f:
        rows = {row["arm"]: row for row in csv.DictReader(f)}
    assert set(rows) == {"1s", "2s", "4s"}
    assert float(rows["2s"]["wall_clock_seconds"]) == 20.0
    assert float(rows["4s"]["kws_accuracy"]) == 0.81 and float(rows["1s"]["asr_wer"]) == 0.60
    markdown = (root / "report.md").read_text()
    assert "1s costs 25% of 4s in wall_clock_seconds" in markdown
    assert "kws_accuracy 0.8 vs 0.81 (-1.0 points)" in markdown
    pngs = {p.name for p in root.glob("*.png")}
    assert {"cost_vs_duration.png", "kws_accuracy_vs_duration.png", "asr_wer_vs_wall_clock_seconds.png"} <= pngs


def test_pareto_front_respects_the_metric_direction(finished_sweep):
    root, arms = finished_sweep
    rows = write_report(root, arms, ["kws", "asr"])
    assert {r["arm"] for r in pareto_front(rows, "wall_clock_seconds", "kws_accuracy")} == {"1s", "4s"}
    assert {r["arm"] for r in pareto_front(rows, "wall_clock_seconds", "asr_wer")} == {"1s", "2s", "4s"}


def test_matched_length_is_the_closest_on_a_log_scale():
    assert matched_length(1.0, [1, 2, 4, 8, 16]) == 1
    assert matched_length(6.5, [1, 2, 4, 8, 16]) == 8
    assert matched_length(5.0, [1, 2, 4, 8, 16]) == 4


def test_recommendation_follows_the_datasets_durations(tmp_path):
    for i in range(6):
        write_tone(tmp_path / "keywords" / f"{i}.wav", seconds=1.0)
        write_tone(tmp_path / "sentences" / f"{i}.flac", seconds=6.0 + i * 0.5)
    keywords = recommend(RecommendArguments(data_dir=str(tmp_path / "keywords")))
    sentences = recommend(RecommendArguments(data_dir=str(tmp_path / "sentences")))
    assert keywords["recommended_length"] == 1.0 and sentences["recommended_length"] == 8.0
    assert "median 1.00 s" in keywords["reasons"][0]


def test_recommendation_weighs_a_sweep_report(finished_sweep, tmp_path):
    root, arms = finished_sweep
    write_report(root, arms, ["kws", "asr"])
    for i in range(4):
        write_tone(tmp_path / "kws" / f"{i}.wav", seconds=1.0)
    result = recommend(RecommendArguments(data_dir=str(tmp_path / "kws"), report=str(root / "report.csv"), task="kws"))
    # 1 s is within one point of the best (4 s) at a quarter of the cost.
    assert result["recommended_length"] == 1.0
    assert "25%" in result["reasons"][1]
    strict = recommend(RecommendArguments(data_dir=str(tmp_path / "kws"), report=str(root / "report.csv"),
                                          task="kws", tolerance_points=0.5))
    assert strict["recommended_length"] == 4.0
