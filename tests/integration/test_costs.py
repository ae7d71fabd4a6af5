"""The cost meter, costs.json and the model card: every figure present, consistent, and the same everywhere."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from helpers import REPO, SESSION_RUN, run_accelerate, torchrun_command
from hf_seqlen.corpus.sources import BatchPlan, CropBatchSampler
from hf_seqlen.costs.meter import format_figure
from hf_seqlen.pretrain.args import DataArguments, validation_split
from hf_seqlen.pretrain.loaders import load_splits
from hub_cards import section

FIELDS = {
    "schema_version",
    "wall_clock_seconds",
    "device_kind",
    "device_name",
    "num_devices",
    "device_hours",
    "peak_accelerator_memory_gib",
    "peak_host_memory_gib",
    "flops_counted_steps",
    "flops_counted",
    "flops_per_audio_second",
    "flops_total_estimated_from_counted_steps",
    "energy_kwh_estimated",
    "co2_kg_estimated",
    "audio_hours",
    "samples",
    "optimizer_steps",
    "encoder_frames",
    "longest_input_seconds",
    "audio_seconds_per_second",
    "energy_estimate",
    "notes",
    "bad_audio_files",
    "nonfinite_updates_skipped",
    "training_health",
}


def test_totals_combine_processes(tmp_path: Path):
    """Two real processes: sums add up, maxima take the larger, resumed sums are counted once."""
    script = tmp_path / "two_meters.py"
    script.write_text(
        textwrap.dedent("""
        import json, sys
        from accelerate import Accelerator
        from hf_seqlen.costs.meter import CostMeter
        accelerator = Accelerator(cpu=True)
        rank = accelerator.process_index
        meter = CostMeter(accelerator, track_energy=False)
        meter.load_state_dict({"audio_seconds": 100.0, "samples": 10, "optimizer_steps": 7})
        meter.start()
        meter.add_batch({"audio_seconds": 1.0 + rank, "num_samples": 1, "frames": 49, "longest_seconds": 1.0 + rank})
        meter.add_step()
        costs = meter.finish()
        if accelerator.is_main_process:
            print(json.dumps(costs))
        accelerator.end_training()  # leave the process group cleanly: gloo aborts at exit otherwise
    """)
    )
    result = subprocess.run(
        torchrun_command(script, []),
        cwd=tmp_path,
        env={**os.environ, "ACCELERATE_USE_CPU": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    costs = json.loads(result.stdout.strip().splitlines()[-1])
    assert costs["audio_hours"] == pytest.approx(103.0 / 3600, rel=1e-5)  # 100 carried + 1 + 2
    assert costs["samples"] == 12
    assert costs["longest_input_seconds"] == 2.0
    assert costs["optimizer_steps"] == 8  # every process takes the same steps: not summed
    assert costs["num_devices"] == 2
    assert costs["device_hours"] == pytest.approx(2 * costs["wall_clock_seconds"] / 3600, rel=1e-4)


def crops_fed(updates: int) -> float:
    """Seconds of audio the fixture's run fed: its crop plan, replayed batch by batch (one process, no accumulation)."""
    data_args = DataArguments(max_duration=2)
    train, _ = load_splits(data_args, validation_split(data_args), seed=42)
    sampler = CropBatchSampler(
        train.selection.kept_rows,
        train.selection.kept_durations,
        BatchPlan(max_duration=2, seed=42, min_duration=data_args.min_duration, batch_size=8),
    )
    seconds, epoch = 0.0, 0
    while updates:
        sampler.set_epoch(epoch)
        for planned in list(sampler)[:updates]:
            seconds += sum(crop.length for crop, _ in planned)
            updates -= 1
        epoch += 1
    return seconds


def card_table(card: ModelCard) -> dict[str, str]:
    """The figures of the card's two cost sections, measured and estimated (test_cards.py keeps them apart)."""
    sections = "".join(section(card.text, f"Cost: {part}") for part in ("measured", "estimates"))
    return dict(re.findall(r"^\| (\w+) \| (.+?) \|$", sections, flags=re.MULTILINE))


def test_costs_json_of_a_real_run_is_complete_and_consistent(pretrained_checkpoint: Path):
    costs = json.loads((pretrained_checkpoint / "costs.json").read_text())
    assert set(costs) == FIELDS
    assert costs["optimizer_steps"] == 60 and costs["num_devices"] == 1 and costs["device_kind"] == "cpu"
    assert costs["device_hours"] == pytest.approx(costs["wall_clock_seconds"] / 3600, rel=1e-4)
    assert costs["audio_hours"] * 3600 == pytest.approx(crops_fed(60), rel=1e-5)
    assert costs["audio_seconds_per_second"] == pytest.approx(
        costs["audio_hours"] * 3600 / costs["wall_clock_seconds"], rel=1e-4
    )
    assert 0 < costs["longest_input_seconds"] <= 2.0
    assert costs["flops_counted_steps"] == 3
    assert costs["flops_total_estimated_from_counted_steps"] > costs["flops_counted"] > 0
    assert costs["peak_host_memory_gib"] > 0 and costs["peak_accelerator_memory_gib"] is None
    assert costs["energy_estimate"]["error"] is None, costs["energy_estimate"]
    assert costs["energy_kwh_estimated"] > 0 and costs["co2_kg_estimated"] > 0
    assert costs["energy_estimate"]["tracking_mode"] == "machine"
    assert costs["energy_estimate"]["country_iso_code"] == "USA"
    assert not list(REPO.glob("emissions*.csv")) and not list(pretrained_checkpoint.glob("emissions*.csv"))


def test_the_card_validates_and_shows_the_numbers_of_costs_json(pretrained_checkpoint: Path):
    costs = json.loads((pretrained_checkpoint / "costs.json").read_text())
    card = ModelCard.load(pretrained_checkpoint / "README.md")
    metadata = card.data.to_dict()
    assert metadata["library_name"] == "transformers"
    assert {"wav2vec2", "self-supervised-learning", "audio", "hf-seqlen"} <= set(metadata["tags"])
    co2 = metadata["co2_eq_emissions"]
    assert set(co2) == {"emissions", "source", "training_type", "geographical_location", "hardware_used"}
    assert co2["emissions"] == pytest.approx(costs["co2_kg_estimated"] * 1000)  # the Hub's unit is grams
    shown = card_table(card)
    for name, value in costs.items():
        if isinstance(value, dict) or name == "schema_version":
            continue
        assert shown[name] == format_figure(value), name
        if isinstance(value, (int, float)):
            assert float(shown[name]) == value, name  # the card's digits are exactly what costs.json holds
    assert format_figure(costs["flops_total_estimated_from_counted_steps"]) in card.text
    assert "Wav2Vec2Model.from_pretrained" in card.text and '"crop_mode": "random"' in card.text
    assert "**2 s**" in card.text


def test_a_resumed_run_adds_to_the_costs_of_the_checkpoint(pretrained_checkpoint: Path, tmp_path: Path):
    output_dir = tmp_path / "resumed"
    shutil.copytree(pretrained_checkpoint, output_dir, ignore=shutil.ignore_patterns("checkpoint-60"))
    at_checkpoint = json.loads((output_dir / "checkpoint-40" / "progress.json").read_text())["costs"]
    result = run_accelerate([*SESSION_RUN, "--output_dir", str(output_dir), "--resume_from_checkpoint", "latest"])
    assert result.returncode == 0, result.stderr[-4000:]
    resumed = json.loads((output_dir / "costs.json").read_text())
    uninterrupted = json.loads((pretrained_checkpoint / "costs.json").read_text())
    for same in ("optimizer_steps", "samples", "encoder_frames", "audio_hours"):
        assert resumed[same] == uninterrupted[same], same
    assert resumed["wall_clock_seconds"] > at_checkpoint["wall_clock_seconds"]
    assert resumed["flops_counted_steps"] == 6  # three per session
    assert resumed["energy_kwh_estimated"] > at_checkpoint["energy_kwh"]
    assert not math.isnan(resumed["device_hours"])
