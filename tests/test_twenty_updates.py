"""Twenty updates of the demo run, in this process with a fixed seed and one thread, log the losses and save
the weights recorded in data/twenty_updates.json, to the bit. The run accumulates two batches per update, changes
crop length half-way, validates and checkpoints at update 10: what the loop does, in one short run.

After a deliberate change to what a run computes, record anew: python tests/test_twenty_updates.py"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import sys
from pathlib import Path

from helpers import logged_steps
from in_process import model_weights, pretrain_in_process

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


def twenty_updates(output_dir: Path) -> dict:
    """What the run logged (every update's figures but its speed, and each validation) and a hash of its weights."""
    log = pretrain_in_process([*ARGS, "--output_dir", str(output_dir)])
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
        "model_sha256": hashlib.sha256(model_weights(output_dir)).hexdigest(),
    }


def test_twenty_updates_log_the_recorded_losses_and_save_the_recorded_weights(tmp_path):
    recorded = json.loads(RECORDED.read_text())
    run = twenty_updates(tmp_path / "run")
    assert run["steps"] == recorded["steps"]
    assert run["validations"] == recorded["validations"]
    assert run["model_sha256"] == recorded["model_sha256"]


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        RECORDED.write_text(json.dumps(twenty_updates(Path(folder) / "run"), indent=1) + "\n")
    print(f"recorded {RECORDED}")
