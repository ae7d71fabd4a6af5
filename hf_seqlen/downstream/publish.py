"""run_downstream.py --push_to_hub: the run publishes its folder once, after scoring, and the Trainer not at all.

Left to itself, the Trainer pushes in `save_model`, before the run is scored: the model with a card of its own,
without results.json, the per-example outcomes or the project's card, and with whatever else lies in the folder
(a probe's feature cache). It also pickles its arguments, token included, into training_args.bin. So the Trainer is
given neither --push_to_hub nor the token; the run's HubPublisher (push.py) holds the token, makes the repo before
training (a bad token or name fails in seconds) and pushes what push.NOT_PUBLISHED leaves, from a snapshot whose
results and outcomes name no path of this machine, in the background while the process winds down.
"""

from __future__ import annotations

from pathlib import Path

from transformers import TrainingArguments

from ..publishing.push import HubPublisher, newest_checkpoint

PUSH_MESSAGE = "Upload the fine-tuned model, its results and model card"


def take_over_publishing(training_args: TrainingArguments) -> HubPublisher | None:
    """The run's publisher when --push_to_hub is given; the Trainer keeps neither the push nor the token."""
    if not training_args.push_to_hub:
        return None
    publisher = HubPublisher(training_args, Path(training_args.output_dir), training_args.process_index == 0)
    training_args.push_to_hub = False
    training_args.hub_token = None
    return publisher


def start_publishing(publisher: HubPublisher, training_args: TrainingArguments) -> None:
    """Push the scored run; with --hub_strategy checkpoint, its newest Trainer checkpoint as last-checkpoint/."""
    wants_checkpoint = publisher.strategy == "checkpoint"
    checkpoint = newest_checkpoint(Path(training_args.output_dir)) if wants_checkpoint else None
    publisher.push_downstream_in_background(PUSH_MESSAGE, checkpoint)
