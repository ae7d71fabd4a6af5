"""The benchmark harness runs end to end in its smallest configuration and writes its files.

No timing is checked: these numbers come from a few steps on a shared machine and mean nothing.
"""

import json
import random
import subprocess
import sys

import numpy as np
import pytest

from benchmarks.common import median_interval
from helpers import REPO
from hf_seqlen.pretrain.args import HUB_CONFIGS


def test_the_gpu_benchmark_imports_only_what_a_gpu_machine_is_given():
    """The GPU machine has torch, transformers, accelerate and pyarrow, and benchmarks/gpu_run.sh installs
    scripts/gpu_wheels.sh's packages; the CPU measurements' scipy, matplotlib, evaluate and jiwer are not there."""
    code = (
        "import sys\n"
        "for name in ('scipy', 'matplotlib', 'evaluate', 'jiwer', 'espeakng_loader'): sys.modules[name] = None\n"
        "import benchmarks.__main__, benchmarks.gpu, benchmarks.gpu_loop\n"
        "sys.exit(benchmarks.__main__.main(['--gpu']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "no CUDA device here" in result.stderr, result.stderr[-3000:]


def test_time_to_quality_runs_only_when_named():
    from benchmarks.__main__ import parse_args

    assert "time_to_quality" not in parse_args([]).only
    assert parse_args(["--only", "time_to_quality", "--jobs", "2"]).only == ["time_to_quality"]


def test_the_brief_gpu_profile_is_refused_for_anything_but_time_to_quality(capsys):
    from benchmarks.__main__ import main, parse_args

    assert parse_args(["--brief", "--only", "time_to_quality"]).profile == "brief"
    assert main(["--brief"]) == 2
    assert "add --only time_to_quality" in capsys.readouterr().err


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


def outcomes(correct_until: int, n: int = 1000, seeds: int = 3, shuffle: int | None = None) -> list[dict]:
    """One arm's outcome tables, one per seed: clips 0 .. correct_until-1 right, the rest wrong; rows optionally
    shuffled, so that only the ids line the arms up."""
    ids = np.array([f"clip-{i:04d}" for i in range(n)])
    correct = (np.arange(n) < correct_until).astype(float)
    order = np.random.default_rng(shuffle).permutation(n) if shuffle is not None else np.arange(n)
    return [{"id": ids[order], "correct": correct[order]} for _ in range(seeds)]


def test_keeping_75_percent_of_the_gain_is_stricter_than_the_absolute_margin_where_the_example_gained_little():
    from benchmarks.ttq_frontier import gain_share, keeps_gain
    from hf_seqlen.statistics import paired_difference

    untrained, example = outcomes(400), outcomes(480, shuffle=1)  # the example gains 8 points
    arm = outcomes(455, shuffle=2)  # 2.5 points below the example: 69% of its gain
    assert paired_difference("accuracy", arm, example).low > -0.04  # within the absolute margin
    kept = keeps_gain(arm, example, untrained)
    assert kept.estimate == pytest.approx(0.455 - 0.75 * 0.48 - 0.25 * 0.40) and kept.low < 0
    assert gain_share(0.455, 0.48, 0.40) == pytest.approx(55 / 80)
    assert keeps_gain(outcomes(475, shuffle=3), example, untrained).low > 0  # 94% of the gain: kept
    assert gain_share(0.5, 0.4, 0.4) is None  # nothing gained, no share to keep


def test_a_contrast_refuses_arms_scored_on_different_test_clips():
    from benchmarks.ttq_frontier import keeps_gain

    other = outcomes(400)
    other[1] = {**other[1], "id": np.array([f"other-{i}" for i in range(1000)])}
    with pytest.raises(ValueError, match="same test examples"):
        keeps_gain(outcomes(450), outcomes(480), other)


def test_the_gap_change_pairs_both_budgets_and_reads_as_a_trend():
    from benchmarks.ttq_frontier import gap_change, trend

    small = (outcomes(600, shuffle=4), outcomes(500))  # 2 s ahead by 10 points
    large = (outcomes(620), outcomes(600, shuffle=5))  # ahead by 2
    change = gap_change(small, large)
    assert change.estimate == pytest.approx(-0.08) and change.high < 0
    assert trend(0.10, {"low": change.low, "high": change.high}) == "narrows"
    assert trend(0.10, {"low": 0.01, "high": 0.05}) == "widens"
    assert trend(-0.10, {"low": 0.01, "high": 0.05}) == "narrows"
    assert trend(0.10, {"low": -0.01, "high": 0.05}) == "holds"


def made_up_results(gaps: dict[int, tuple[float, float, float]], change: tuple[float, float, float]) -> dict:
    """Results shaped as time_to_quality.run writes them: per budget, the 2 s same-FLOPs arm's difference from the
    example is gaps[updates] (estimate, low, high); the other figures are placeholders."""

    def interval(estimate, low, high):
        return {"estimate": estimate, "low": low, "high": high, "seeds": 3, "p_value": 0.5}

    def row(recipe, budget, updates, accuracy, difference=None):
        scale = updates * (0.1 if recipe == "2s" and budget == "updates" else 1.0)
        return {
            "name": f"{recipe} {budget}",
            "recipe": recipe,
            "budget": budget,
            "flops": {"median": 1e9 * scale},
            "wall_seconds": {"median": 10.0 * scale},
            "accuracy": interval(accuracy, accuracy - 0.05, accuracy + 0.05),
            "difference": difference,
        }

    budgets = []
    for updates, gap in gaps.items():
        arms = [
            row("example", "updates", updates, 0.5),
            *([row("example-readme", "batches", updates, 0.45)] if updates == 48 else []),
            row("2s", "updates", updates, 0.48),
            row("2s", "flops", updates, 0.5 + gap[0], interval(*gap)),
            row("4s", "flops", updates, 0.52),
            row("untrained", "none", 0, 0.42),
        ]
        budgets.append({"example_updates": updates, "seeds": [0, 1, 2], "arms": arms, "goal": {}})
    frontier = {"smallest": min(gaps), "largest": max(gaps), "seeds": [0, 1, 2], "gap_change": interval(*change)}
    return {"config_name": "wav2vec2-tiny", "seeds": [0, 1, 2], "budgets": budgets, "frontier": frontier}


def test_the_frontier_says_where_2s_beats_the_example_where_they_are_level_and_how_the_gap_moves():
    from benchmarks.ttq_report import frontier_summary

    results = made_up_results(
        {16: (0.12, 0.05, 0.19), 48: (0.04, -0.01, 0.09), 144: (-0.05, -0.09, -0.01)}, change=(-0.17, -0.25, -0.09)
    )
    text = frontier_summary(results)
    assert "beats the example (interval above 0) at 16 example updates" in text
    assert "level (interval across 0) at 48 example updates" in text and "the example is ahead at 144 example" in text
    assert "From 16 to 144 example updates the gap narrows" in text and "-17.0 (-25.0 to -9.0)" in text
    steady = made_up_results({16: (0.12, 0.05, 0.19), 144: (0.10, 0.03, 0.17)}, change=(-0.02, -0.1, 0.06))
    text = frontier_summary(steady)
    assert "at 16, 144 example updates" in text and "level (interval across 0) at no budget;" in text
    assert "moves by no more than" in text


def test_the_figure_draws_one_line_per_recipe_across_budgets_labelled_by_budget():
    import matplotlib.pyplot as plt

    from benchmarks.ttq_report import draw

    results = made_up_results({16: (0.1, 0.0, 0.2), 48: (0.1, 0.0, 0.2), 144: (0.1, 0.0, 0.2)}, change=(0.0, -0.1, 0.1))
    figure = draw(results)
    try:
        for axis in figure.axes:
            points = {c.get_label(): len(c.lines[0].get_xdata()) for c in axis.containers}
            assert points == {
                "transformers example": 3,
                "transformers example, its README demo's settings": 1,
                "run_pretrain.py --max_duration 2, same updates": 3,
                "run_pretrain.py --max_duration 2, same FLOPs": 3,
                "run_pretrain.py --max_duration 4, same FLOPs": 3,
            }
            labels = [text.get_text() for text in axis.texts]
            assert labels.count("16") == 4 and labels.count("48") == 5 and labels.count("144") == 4
        assert [axis.get_xscale() for axis in figure.axes] == ["log", "log"]
        assert "compute" in figure.axes[0].get_xlabel() and "wall-clock" in figure.axes[1].get_xlabel()
    finally:
        plt.close(figure)


def test_the_quick_frontier_plans_three_budgets_9x_apart_with_five_seeds_and_the_readme_settings_at_48():
    from benchmarks.profiles import QUICK
    from benchmarks.ttq_arms import EXAMPLE_README, arms_of, example_settings, plan

    work = plan(QUICK)
    assert len(work) == len(set(work))
    assert max(QUICK.ttq_updates) >= 9 * min(QUICK.ttq_updates)
    budgets = {}
    for arm, seed in work:
        if arm.budget != "none":
            budgets.setdefault(arm.updates, set()).add(seed)
    assert budgets == {16: {0, 1, 2}, 48: {0, 1, 2, 3, 4}, 144: {0, 1, 2}}
    assert [arm.budget for arm, _ in work].index("flops") == len(work) - sum(a.budget == "flops" for a, _ in work)
    for updates in QUICK.ttq_updates:
        kinds = {(arm.recipe, arm.budget) for arm in arms_of(QUICK, updates)}
        assert {("example", "updates"), ("2s", "updates"), ("2s", "flops"), ("4s", "flops")} <= kinds
        assert ((EXAMPLE_README, "batches") in kinds) == (updates == 48)
    (readme,) = [arm for arm in arms_of(QUICK, 48) if arm.recipe == EXAMPLE_README]
    settings = example_settings(readme)
    assert (settings["updates"], settings["accumulation"], settings["warmup_steps"]) == (6, 8, 9)
    assert settings["optimizer"]["learning_rate"] == 5e-3


def test_every_frontier_profile_has_three_budgets_9x_apart_and_more_seeds_at_its_headline():
    from benchmarks.profiles import BRIEF, FULL, QUICK

    for profile in (FULL, BRIEF, QUICK):
        budgets = profile.ttq_updates
        assert len(budgets) >= 3 and max(budgets) >= 9 * min(budgets), profile.name
        assert profile.ttq_headline_updates in budgets, profile.name
        assert set(profile.ttq_seeds) <= set(profile.ttq_headline_seeds), profile.name


def test_pretraining_utterances_are_cut_to_a_drawn_length_and_keep_their_start(tmp_path):
    import soundfile as sf

    from benchmarks.ttq_corpus import cut_utterances

    audio = (np.sin(np.arange(16000 * 12) / 7) * 8000).astype(np.int16)
    for name in ("a.flac", "b.flac"):
        sf.write(tmp_path / name, audio, 16000, format="FLAC", subtype="PCM_16")
    cut_utterances(tmp_path, (6.0, 9.0))
    for name in ("a.flac", "b.flac"):
        kept, _ = sf.read(tmp_path / name, dtype="int16")
        assert 6 * 16000 <= len(kept) <= 9 * 16000 and np.array_equal(kept, audio[: len(kept)])


def test_the_committed_time_to_quality_record_still_renders(tmp_path):
    """A record made before a change of the report keeps its section and figure until the run is made again."""
    from benchmarks.ttq_report import headline, plot, section

    results = json.loads((REPO / "benchmarks" / "results" / "time_to_quality.json").read_text())["results"]
    assert "Goal: at equal FLOPs" in section(results) and "Time to quality against" in headline(results)
    assert plot(results, tmp_path / "figure.png").stat().st_size > 0


def test_the_time_estimate_extrapolates_a_fixed_part_and_a_part_per_update_over_the_plan():
    """A made-up measurement of the smallest budget whose processes cost 10 CPU seconds plus 1 per update."""
    import dataclasses

    from benchmarks.profiles import QUICK
    from benchmarks.ttq_arms import UNTRAINED, arms_of, plan
    from benchmarks.ttq_estimate import extrapolate

    profile = dataclasses.replace(QUICK, ttq_jobs=2)
    updates = {"example": 16, "example-readme": 2, "2s": 16, "2s-flops": 80, "4s-flops": 40}

    def arm_cost(arm):
        key = arm.recipe if arm.budget != "flops" else f"{arm.recipe}-flops"
        steps = 0 if arm.recipe == UNTRAINED else updates[key]
        cpu = 0.0 if arm.recipe == UNTRAINED else 10.0 + steps
        return {"run": {"updates": steps}, "pretrain": {"cpu_seconds": cpu}, "probe": {"cpu_seconds": 30.0}}

    smallest = dataclasses.replace(profile, ttq_headline_updates=16)
    arms = {arm.slug: arm_cost(arm) for arm in arms_of(smallest, 16)}
    measured = {"budget": 16, "corpus": {"cpu_seconds": 100.0}, "arms": arms}
    found = extrapolate(measured, profile)
    assert found["fixed_cpu_seconds"] == pytest.approx(10.0)
    # each arm at budget b: the fixed 10 s plus its updates at the smallest budget scaled by b / 16
    expected = sum(
        10.0 + arm_cost(arm)["run"]["updates"] * arm.updates / 16 for arm, _ in plan(profile) if arm.recipe != UNTRAINED
    )
    assert found["pretraining_cpu_seconds"] == pytest.approx(expected)
    assert found["total_cpu_seconds"] == pytest.approx(100.0 + expected + 30.0 * len(plan(profile)))
    assert found["estimated_wall_seconds"] == pytest.approx(found["total_cpu_seconds"] / 2)
