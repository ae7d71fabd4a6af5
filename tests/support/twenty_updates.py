"""The seeded twenty-update run of the demo corpus, what it logs and saves, and how far another run may be from
the recorded one (tests/unit/test_twenty_updates.py says why these tolerances).

After a deliberate change to what a run computes, record anew: python tests/support/twenty_updates.py"""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path

import torch
from safetensors.torch import load_file

from helpers import logged_steps
from in_process import pretrain_in_process

RECORDED = Path(__file__).resolve().parent / "data" / "twenty_updates.json"


ARGS = [
    "--duration_schedule",
    "1:0.5,2:0.5",
    "--max_train_steps",
    "20",
    "--per_device_train_batch_size",
    "4",
    "--gradient_accumulation_steps",
    "2",
    "--logging_steps",
    "1",
    "--eval_steps",
    "10",
    "--save_steps",
    "10",
    "--max_eval_samples",
    "8",
    "--seed",
    "7",
]


TIMING = "audio_seconds_per_second"  # wall-clock figures differ from run to run


SAMPLES_PER_TENSOR = 16


FIGURE_TOLERANCE = 1e-4  # relative


WEIGHT_TOLERANCE = 1e-5  # absolute, for weights near 0; others are held to FIGURE_TOLERANCE of their value


def weight_samples(output_dir: Path) -> dict[str, dict]:
    """Each saved tensor's norm and its values at evenly spaced places: enough to see any update go astray."""
    samples = {}
    for name, tensor in sorted(load_file(output_dir / "model.safetensors").items()):
        flat = tensor.double().flatten()
        places = torch.linspace(0, flat.numel() - 1, min(SAMPLES_PER_TENSOR, flat.numel())).long()
        samples[name] = {"norm": flat.norm().item(), "values": flat[places].tolist()}
    return samples


def twenty_updates(output_dir: Path, *changed: str) -> dict:
    """What the run logged (every update's figures but its speed, and each validation) and samples of its weights."""
    log = pretrain_in_process([*ARGS, *changed, "--output_dir", str(output_dir)])
    steps = {
        str(step): {name: value for name, value in line.items() if name != TIMING}
        for step, line in logged_steps(log).items()
    }
    validations = [
        ast.literal_eval(found)
        for found in re.findall(r"(?:validation.*|step \d+): (\{'eval_.*\})$", log, flags=re.MULTILINE)
    ]
    return {
        "steps": steps,
        "validations": validations,
        "weights": weight_samples(output_dir),
    }


def figures_differing(run: dict, recorded: dict) -> list[str]:
    """Where two runs' logged figures differ by more than FIGURE_TOLERANCE of their value."""
    logged = {**{f"step {step}": figures for step, figures in run["steps"].items()}, "validations": run["validations"]}
    expected = {
        **{f"step {step}": figures for step, figures in recorded["steps"].items()},
        "validations": recorded["validations"],
    }
    assert logged.keys() == expected.keys(), "the runs logged different updates"
    differing = []
    for place, figures in expected.items():
        pairs = zip(figures, logged[place]) if place == "validations" else [(figures, logged[place])]
        for wanted, got in pairs:
            assert wanted.keys() == got.keys(), f"{place} logged other figures"
            differing += [
                f"{place} {name}: {got[name]} (recorded {value})"
                for name, value in wanted.items()
                if not math.isclose(got[name], value, rel_tol=FIGURE_TOLERANCE)
            ]
    return differing


def weights_differing(run: dict, recorded: dict) -> list[str]:
    """The tensors whose norm or sampled values moved by more than the tolerances."""
    assert run["weights"].keys() == recorded["weights"].keys(), "the runs saved different tensors"
    return [
        name
        for name, wanted in recorded["weights"].items()
        if not math.isclose(
            run["weights"][name]["norm"], wanted["norm"], rel_tol=FIGURE_TOLERANCE, abs_tol=WEIGHT_TOLERANCE
        )
        or not all(
            math.isclose(got, value, rel_tol=FIGURE_TOLERANCE, abs_tol=WEIGHT_TOLERANCE)
            for got, value in zip(run["weights"][name]["values"], wanted["values"])
        )
    ]


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        RECORDED.write_text(json.dumps(twenty_updates(Path(folder) / "run"), indent=1) + "\n")
    print(f"recorded {RECORDED}")
