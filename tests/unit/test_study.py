"""The study: length schedules, the report, and the recommendation."""

import csv
import json
import shutil

import numpy as np
import pytest

from helpers import write_tone
from hf_seqlen.cli import main
from hf_seqlen.option_parsing import UsageError
from hf_seqlen.pretrain.schedule import DurationSchedule
from hf_seqlen.statistics import holm
from hf_seqlen.study.arm import Arm
from hf_seqlen.study.card import write_card_sections
from hf_seqlen.study.recommend import RecommendArguments, matched_length, recommend
from hf_seqlen.study.report import write_report


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


KEYWORDS = ["yes", "no", "up", "down"]


def write_arm(root, name, seed, flops, kws_right, asr_edits, readme=True, voices=None):
    """One (arm, seed) as a sweep leaves it: costs.json, a card, and per-example test outcomes.
    kws_right[i]: clip i classified right; asr_edits[i]: word edits of utterance i (5 words each); `voices`: that
    many speakers take turns, named in each outcome's `cluster`."""
    runs = root / name / f"seed-{seed}"
    (runs / "pretrain").mkdir(parents=True)
    (runs / "pretrain" / "costs.json").write_text(
        json.dumps(
            {
                "flops_total_estimated_from_counted_steps": flops,
                "wall_clock_seconds": flops / 1e9,
                "audio_hours": flops / 1e13,
                "optimizer_steps": 20,
            }
        )
    )
    if readme:
        (runs / "pretrain" / "README.md").write_text("# card\n\nmeasured costs\n")
    kws = [
        {
            "id": f"k{i}",
            "reference": KEYWORDS[i % 4],
            "prediction": KEYWORDS[i % 4] if right else KEYWORDS[(i + 1) % 4],
            "correct": int(right),
            **({"cluster": f"voice{i % voices}"} if voices else {}),
        }
        for i, right in enumerate(kws_right)
    ]
    asr = [
        {
            "id": f"u{i}",
            "reference": "a b c d e",
            "prediction": "",
            "word_edits": e,
            "words": 5,
            "char_edits": 2 * int(e),
            "chars": 9,
        }
        for i, e in enumerate(map(int, asr_edits))
    ]
    for task, examples in (("kws", kws), ("asr", asr)):
        (runs / task).mkdir()
        (runs / task / "results.json").write_text(json.dumps({"task": task, "metrics": {"test": {}}}))
        (runs / task / "test_examples.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples))


ARMS = [Arm.fixed(float(d)) for d in (1, 2, 4)]


@pytest.fixture
def finished_sweep(tmp_path):
    """1 s: same kws outcomes as 4 s, same WER; 2 s: far worse kws. 200 clips, 3 seeds."""
    rng = np.random.default_rng(0)
    for seed in range(3):
        good = rng.random(200) < 0.8
        edits = rng.integers(0, 3, 100)
        write_arm(tmp_path, "1s", seed, 1e12, good, edits)
        write_arm(tmp_path, "2s", seed, 2e12, rng.random(200) < 0.3, edits)
        write_arm(tmp_path, "4s", seed, 4e12, good, edits)
    return tmp_path


def report_rows(root):
    with open(root / "report.csv") as f:
        return {row["arm"]: row for row in csv.DictReader(f)}


def test_report_carries_intervals_paired_differences_and_cost_ratios(finished_sweep):
    write_report(finished_sweep, ARMS, ["kws", "asr"], [0, 1, 2])
    rows = report_rows(finished_sweep)
    assert list(rows) == ["1s", "2s", "4s"] and {r["reference_arm"] for r in rows.values()} == {"4s"}
    for metric in ("kws_accuracy", "kws_f1", "asr_wer", "asr_cer"):
        for row in rows.values():
            low, value, high = (float(row[f"{metric}{s}"]) for s in ("_ci_low", "", "_ci_high"))
            assert low <= value <= high
            assert f"{metric}_diff_vs_reference" in row and f"{metric}_diff_ci_low" in row
    assert float(rows["1s"]["cost_ratio_vs_reference"]) == pytest.approx(0.25)
    assert float(rows["2s"]["kws_accuracy_diff_ci_high"]) < 0 and float(rows["2s"]["seeds"]) == 3


def test_headline_claims_only_what_the_intervals_support(finished_sweep):
    write_report(finished_sweep, ARMS, ["kws", "asr"], [0, 1, 2])
    markdown = (finished_sweep / "report.md").read_text()
    headline = markdown.split("## Headline")[1].split("##")[0]
    line_1s = next(line for line in headline.splitlines() if line.startswith("- 1s"))
    assert "costs 25% of 4s in pre-training compute (TFLOP, counted)" in line_1s
    assert "identical on every example in every seed" in line_1s and "points" not in line_1s
    line_2s = next(line for line in headline.splitlines() if line.startswith("- 2s"))
    assert "kws accuracy" in line_2s and "worse, difference -" in line_2s and "(95% CI -" in line_2s
    assert "+0.0 points" not in markdown and "Held equal across arms: updates" in markdown
    assert "comparisons at 95% each" in headline and "Holm's adjustment" in headline


def test_holm_counts_each_arm_against_the_reference_not_the_reference_against_itself(finished_sweep):
    write_report(finished_sweep, ARMS, ["kws", "asr"], [0, 1, 2])
    rows = report_rows(finished_sweep)
    metrics = ("kws_accuracy", "kws_f1", "asr_wer", "asr_cer")
    # 2 arms x 4 metrics against 4s: 8 comparisons, not 12.
    assert "8 comparisons at 95% each" in (finished_sweep / "report.md").read_text()
    raw = [float(rows[arm][f"{m}_diff_p_value"]) for arm in ("1s", "2s") for m in metrics]
    adjusted = [float(rows[arm][f"{m}_diff_p_holm"]) for arm in ("1s", "2s") for m in metrics]
    assert adjusted == pytest.approx(holm(raw))
    assert all(rows["4s"][f"{m}_diff_p_holm"] == "" for m in metrics)


def flag_run(root, arm, seed, problem):
    """Mark a finished pre-training run as one that did not learn, as run_health leaves it in costs.json."""
    path = root / arm / f"seed-{seed}" / "pretrain" / "costs.json"
    costs = json.loads(path.read_text())
    path.write_text(json.dumps({**costs, "training_health": {"learned": False, "problems": [problem]}}))


def test_runs_that_did_not_learn_are_listed_per_seed_and_the_headline_is_given_without_them(finished_sweep):
    flag_run(finished_sweep, "2s", 2, "validation loss rose from 2.300 before training to 2.930")
    write_report(finished_sweep, ARMS, ["kws", "asr"], [0, 1, 2])
    markdown = (finished_sweep / "report.md").read_text()
    section = markdown.split("## Pre-training runs that did not learn")[1].split("## Budget")[0]
    assert "- 2s seed 2: validation loss rose from 2.300 before training to 2.930" in section
    # With seed 2 left out of every arm, 2 seeds cannot tell 2s from 4s: the verdict rests on the flagged seed.
    assert (
        "Without seed 2 (in every arm) the headline's verdicts change: 2s kws accuracy: worse -> no detectable "
        "difference; 2s kws f1: worse -> no detectable difference." in section
    )
    assert "The headline without seed 2:" in section and "- 2s costs 50% of 4s" in section
    rows = report_rows(finished_sweep)
    assert rows["2s"]["runs_that_did_not_learn"] == "1" and rows["2s"]["seeds"] == "3"  # kept in the report


def test_a_headline_that_does_not_rest_on_the_flagged_runs_says_so(finished_sweep):
    flag_run(finished_sweep, "4s", 1, "the codebook stalled")
    write_report(finished_sweep, ARMS, ["kws"], [0, 1, 2])
    section = (finished_sweep / "report.md").read_text().split("## Pre-training runs that did not learn")[1]
    assert "- 4s seed 1: the codebook stalled" in section
    assert "Without seed 1 (in every arm) every verdict of the headline stays the same." in section


def test_a_report_without_flagged_runs_has_no_such_section(finished_sweep):
    write_report(finished_sweep, ARMS, ["kws"], [0, 1, 2])
    assert "did not learn" not in (finished_sweep / "report.md").read_text()


def test_no_detectable_difference_states_the_size_and_precision(tmp_path):
    rng = np.random.default_rng(1)
    for seed in range(2):
        write_arm(tmp_path, "1s", seed, 1e12, rng.random(40) < 0.5, rng.integers(0, 3, 10))
        write_arm(tmp_path, "2s", seed, 2e12, rng.random(40) < 0.5, rng.integers(0, 3, 10))
    write_report(tmp_path, ARMS[:2], ["kws"], [0, 1])
    markdown = (tmp_path / "report.md").read_text()
    assert "no detectable difference at this size (40 examples, 2 seeds; difference " in markdown


def test_a_comparison_over_speakers_names_how_many(tmp_path):
    rng = np.random.default_rng(1)
    for seed in range(2):
        write_arm(tmp_path, "1s", seed, 1e12, rng.random(40) < 0.5, rng.integers(0, 3, 10), voices=4)
        write_arm(tmp_path, "2s", seed, 2e12, rng.random(40) < 0.5, rng.integers(0, 3, 10), voices=4)
    write_report(tmp_path, ARMS[:2], ["kws"], [0, 1])
    assert (
        "no detectable difference at this size (40 examples from 4 speakers, 2 seeds; difference "
        in (tmp_path / "report.md").read_text()
    )


def test_figures_are_few_and_named_for_readers(finished_sweep):
    write_report(finished_sweep, ARMS, ["kws", "asr"], [0, 1, 2])
    assert sorted(p.name for p in finished_sweep.glob("*.png")) == ["asr.png", "costs.png", "kws.png", "summary.png"]
    assert "![summary](summary.png)" in (finished_sweep / "report.md").read_text()


def test_a_reference_arm_can_be_chosen_and_a_wrong_one_is_named(finished_sweep):
    write_report(finished_sweep, ARMS, ["kws"], [0, 1, 2], reference_arm="1s")
    assert float(report_rows(finished_sweep)["4s"]["cost_ratio_vs_reference"]) == pytest.approx(4)
    with pytest.raises(UsageError, match="--reference_arm 8s is not an arm"):
        write_report(finished_sweep, ARMS, ["kws"], [0, 1, 2], reference_arm="8s")


def test_each_arms_card_gains_its_comparison_once(finished_sweep):
    rows = write_report(finished_sweep, ARMS, ["kws", "asr"], [0, 1, 2])
    write_card_sections(finished_sweep, rows, ["kws", "asr"], [0, 1, 2])
    write_card_sections(finished_sweep, rows, ["kws", "asr"], [0, 1, 2])
    card = (finished_sweep / "2s" / "seed-1" / "pretrain" / "README.md").read_text()
    assert card.startswith("# card") and card.count("## In the sequence-length study") == 1
    assert "0.50x that of 4s" in card and "kws accuracy:" in card and "minus 4s:" in card


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


def kws_audio(tmp_path):
    for i in range(4):
        write_tone(tmp_path / "kws" / f"{i}.wav", seconds=1.0)
    return str(tmp_path / "kws")


def test_recommendation_without_a_report_is_labelled_the_papers_prior(tmp_path):
    result = recommend(RecommendArguments(data_dir=kws_audio(tmp_path)))
    assert result["basis"] == "prior" and "paper's prior" in result["reasons"][-1]
    assert "untested on your data" in result["reasons"][-1]


def test_recommendation_picks_the_cheapest_arm_shown_within_tolerance(finished_sweep, tmp_path):
    write_report(finished_sweep, ARMS, ["kws", "asr"], [0, 1, 2])
    result = recommend(
        RecommendArguments(data_dir=kws_audio(tmp_path), report=str(finished_sweep / "report.csv"), task="kws")
    )
    # 1 s is example for example the same as 4 s at a quarter of the cost; 2 s is far worse.
    assert result["recommended_length"] == 1.0 and result["basis"] == "measured"
    assert result["measured"]["verdicts"] == {"1s": "within", "2s": "worse", "4s": "within"}
    assert "1s is the best arm" not in result["reasons"][1] and "0.793" not in result["reasons"][1]


def test_recommendation_says_when_the_data_cannot_decide(tmp_path):
    # 4 s is right on 24 of 40 clips, 1 s on 20 (other clips): 10 points apart, with a CI far wider than 1 point.
    clips = np.arange(40)
    for seed in range(2):
        write_arm(tmp_path / "sweep", "1s", seed, 1e12, clips < 20, [0])
        write_arm(tmp_path / "sweep", "4s", seed, 4e12, (clips >= 10) & (clips < 34), [0])
    write_report(tmp_path / "sweep", [ARMS[0], ARMS[2]], ["kws"], [0, 1])
    result = recommend(
        RecommendArguments(data_dir=kws_audio(tmp_path), report=str(tmp_path / "sweep" / "report.csv"), task="kws")
    )
    assert result["measured"]["undecided_arms"] == ["1s"] and "cannot decide" in result["reasons"][2]


@pytest.mark.parametrize("unfinished", ["1s", "2s"])
def test_recommendation_names_the_empty_cell_of_an_arm_without_results(tmp_path, capsys, unfinished):
    rng = np.random.default_rng(0)
    for seed in range(2):
        for arm in ARMS:
            write_arm(tmp_path / "sweep", arm.name, seed, arm.max_duration * 1e12, rng.random(40) < 0.8, [0])
        shutil.rmtree(tmp_path / "sweep" / unfinished / f"seed-{seed}" / "kws")  # its kws jobs never finished
    write_report(tmp_path / "sweep", ARMS, ["kws"], [0, 1])
    report = tmp_path / "sweep" / "report.csv"
    status = main(["recommend", "--data_dir", kws_audio(tmp_path), "--report", str(report), "--task", "kws"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    line = 2 + [arm.name for arm in ARMS].index(unfinished)
    assert status == 2 and error.startswith(
        f"hf_seqlen error: {report}, line {line}: the kws_accuracy cell of arm "
        f"{unfinished} is empty (the arm has no kws test results)"
    )
    assert "Run the same `hf-seqlen sweep` again" in error


def test_recommend_names_an_unknown_option_with_the_closest_one(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["recommend", "--tolerence", "2"])
    assert exit.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "hf_seqlen error: unknown option --tolerence (did you mean --tolerance?). --help lists every option."
    )
