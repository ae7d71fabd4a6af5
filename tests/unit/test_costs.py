"""The cost meter, costs.json and the model card: every figure present, consistent, and the same everywhere."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch
from transformers import Wav2Vec2Config
from transformers.models.wav2vec2.modeling_wav2vec2 import Wav2Vec2EncoderLayerStableLayerNorm

from hf_seqlen.costs.flops import flop_counter
from hf_seqlen.costs.meter import CostMeter, EnergyTracker, kernel_cpu_model
from hf_seqlen.pretrain.args import HUB_CONFIGS


def batch(seconds: float, samples: int = 1) -> dict:
    return {
        "audio_seconds": seconds,
        "num_samples": samples,
        "frames": int(seconds * 50) - 1,
        "longest_seconds": seconds,
    }


def linear_update(meter: CostMeter, step: int, layer: torch.nn.Linear, seconds: float) -> None:
    """One update of a (2 x 4) @ (4 x 3) linear layer: 48 FLOPs forward, 48 for the weight gradient."""
    with meter.counting_flops(step, seconds):
        layer(torch.ones(2, 4)).sum().backward()
    meter.add_batch(batch(seconds))
    meter.add_step()


def test_flops_are_counted_on_sampled_updates_and_extrapolated_per_audio_second():
    meter = CostMeter(flops_counted_steps=2, flops_count_interval=5, track_energy=False).start()
    layer = torch.nn.Linear(4, 3)
    for step in range(10):
        linear_update(meter, step, layer, seconds=2.0 if step < 5 else 1.0)
    costs = meter.finish()
    assert costs["flops_counted_steps"] == 3  # updates 0, 1 and 5
    assert costs["flops_counted"] == 3 * 96
    assert costs["flops_per_audio_second"] == pytest.approx(3 * 96 / 5.0)  # 2 + 2 + 1 s were counted
    assert costs["flops_total_estimated_from_counted_steps"] == pytest.approx(3 * 96 / 5.0 * 15.0)
    assert costs["audio_hours"] == pytest.approx(15.0 / 3600, rel=1e-5)
    assert costs["samples"] == 10 and costs["optimizer_steps"] == 10 and costs["longest_input_seconds"] == 2.0
    assert costs["device_hours"] == pytest.approx(costs["wall_clock_seconds"] / 3600, rel=1e-4)
    assert costs["peak_accelerator_memory_gib"] is None  # a CPU has none: not measured, not zero
    assert costs["peak_host_memory_gib"] > 0
    assert costs["energy_kwh_estimated"] is None and costs["energy_estimate"]["error"]


def test_resume_keeps_adding_to_every_counter():
    first = CostMeter(flops_counted_steps=1, track_energy=False).start()
    layer = torch.nn.Linear(4, 3)
    for step in range(3):
        linear_update(first, step, layer, seconds=2.0)
    saved = json.loads(json.dumps(first.state_dict()))  # as progress.json stores it

    resumed = CostMeter(flops_counted_steps=1, track_energy=False)
    resumed.load_state_dict(saved)
    resumed.start()
    for step in range(3, 5):
        linear_update(resumed, step, layer, seconds=1.0)
    totals = resumed.totals()
    assert totals.optimizer_steps == 5 and totals.samples == 5
    assert totals.audio_seconds == pytest.approx(8.0)
    assert totals.flops_counted_steps == 2  # the first update of each session
    assert totals.wall_clock_seconds > saved["wall_clock_seconds"]
    assert totals.device_seconds > saved["device_seconds"]
    assert totals.energy_kwh is None


def test_a_codecarbon_failure_is_recorded_not_raised():
    tracker = EnergyTracker("USA", "no-such-mode", None)  # codecarbon cannot measure in a mode it does not have
    assert tracker.kwh_and_kg() == (None, None)
    tracker.stop()
    assert tracker.details()["error"].startswith("codecarbon")


@pytest.mark.skipif(kernel_cpu_model() is None, reason="the kernel names no CPU here (not Linux)")
def test_codecarbon_names_the_cpu_from_the_kernel_without_starting_a_probe_process(monkeypatch):
    """py-cpuinfo probes the CPU in a fresh Python process (a second every run waited for); the tracker starts
    without one and reports the kernel's name for the CPU."""
    from codecarbon.core.util import detect_cpu_model

    detect_cpu_model.cache_clear()  # a tracker started earlier in this process would have answered already
    commands = []

    class RecordedPopen(subprocess.Popen):
        def __init__(self, args, *rest, **options):
            commands.append(args)
            super().__init__(args, *rest, **options)

    monkeypatch.setattr(subprocess, "Popen", RecordedPopen)
    tracker = EnergyTracker("USA", "machine", None)
    tracker.stop()
    assert not [command for command in commands if "cpuinfo" in str(command)], commands
    assert tracker.details()["error"] is None and tracker.details()["cpu_model"] == kernel_cpu_model()


@pytest.mark.parametrize("attention_dropout", [0.0, 0.1])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_attention_flops_are_counted_in_every_mode(attention_dropout, mode):
    """Without dropout the CPU runs attention in a kernel torch's counter has no formula for; one
    layer's count must still equal the hand count: 4 projections and 2 products of the attention."""
    config = Wav2Vec2Config.from_pretrained(
        HUB_CONFIGS / "wav2vec2-tiny", attention_dropout=attention_dropout, attn_implementation="sdpa"
    )  # what a loaded model uses
    layer = Wav2Vec2EncoderLayerStableLayerNorm(config)
    getattr(layer, mode)()
    batch, frames, width = 3, 50, config.hidden_size
    hidden = torch.randn(batch, frames, width)
    with flop_counter() as counter:
        layer.attention(hidden)
    projections = 4 * 2 * batch * frames * width * width
    scores_and_weighted_values = 2 * 2 * batch * frames * frames * width
    assert counter.get_total_flops() == projections + scores_and_weighted_values
