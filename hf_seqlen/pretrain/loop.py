"""wav2vec 2.0 pre-training on cropped sequences: the loop, on Accelerate. A run is built (`run.build_run`),
trained, and finished.

A batch goes: CropBatchSampler (which crops) -> CroppedAudio (decode only that range) ->
PretrainingCollator (pad, mask, negatives) -> Wav2Vec2ForPreTraining -> loss summed over masked
frames, divided by the masked frames of every process -> AdamW update.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..costs.meter import cost_table_text
from . import objective
from .args import DataArguments, ModelArguments, PretrainingArguments
from .run import PretrainingRun, build_run
from .run_health import run_health
from .state import IntervalSums, UpdateSums, ValidationSums

logger = logging.getLogger("hf_seqlen.pretrain.loop")

# Warn when fewer codevectors than this share of the codebook are in use.
PERPLEXITY_COLLAPSE_SHARE = 0.05


def pretrain(model_args: ModelArguments, data_args: DataArguments, args: PretrainingArguments) -> Path:
    run = build_run(model_args, data_args, args)
    train(run)
    return finish(run)


def train(run: PretrainingRun) -> None:
    """Updates until the planned count. After each: log, validate and checkpoint when due; a new crop length
    starts a new crop plan. An update is made of --gradient_accumulation_steps micro-batches, or fewer at the
    end of an epoch."""
    state, batches, options = run.state, run.train_batches, run.options
    validate_before_training(run)
    log = UpdateLog(run)
    micro_batches: list[dict] = []
    while state.step < run.total_steps:
        batches.max_duration = run.schedule.duration_at(state.step, run.total_steps)
        batches.set_epoch(state.epoch, skip_batches=state.batches_done)
        for batch in run.train_loader:
            state.batches_done += 1
            run.bad_audio.note(batch)
            # Every process holds the same count of batches: counting batches, not good samples, keeps
            # the processes updating together even when a batch held only bad audio.
            micro_batches.append(batch)
            end_of_epoch = state.batches_done == batches.batches_in_epoch
            if len(micro_batches) < options.gradient_accumulation_steps and not end_of_epoch:
                continue
            done = update(run, micro_batches)
            micro_batches = []
            if done is None:
                continue
            log.add(done)
            validate_if_due(run)
            new_length = start_epoch_if_length_changes(run)
            save_if_due(run, done.save_flags)
            if state.step >= run.total_steps or new_length:
                break
        else:
            state.start_epoch()
    log.close()


def finish(run: PretrainingRun) -> Path:
    """The last validation and checkpoint, then the release (model, costs.json, card) and its push."""
    eval_metrics = tracked_validation(run)
    logger.info("validation: %s", eval_metrics)
    checkpoint = run.checkpoint()
    initial = {f"initial_{name}": value for name, value in (run.state.initial_eval or {}).items()}
    health = run_health(run.state.initial_eval, eval_metrics, run.codevector_perplexities, run.unwrapped.config)
    costs = run.write_release({**eval_metrics, **initial}, final=True, health=health)
    if run.accelerator.is_main_process:
        for problem in health["problems"]:
            logger.warning("this run did not learn as expected: %s (marked in costs.json and the card)", problem)
        logger.info("cost of this run (costs.json):\n%s", cost_table_text(costs))
        logger.info("done: model, feature extractor, costs.json and model card in %s", run.output_dir.resolve())
        if run.bad_audio:
            logger.info("%d bad audio files were skipped (listed in the log above)", len(run.bad_audio))
    run.leave_process_group()
    if run.publisher:
        run.publisher.push(checkpoint, final=True)
    return run.output_dir


def validate_if_due(run: PretrainingRun) -> None:
    """Every --eval_steps updates, but the last (finish validates it)."""
    step, every = run.state.step, run.options.eval_steps
    if every and step % every == 0 and step < run.total_steps:
        logger.info("step %d: %s", step, tracked_validation(run))


def start_epoch_if_length_changes(run: PretrainingRun) -> bool:
    """A new crop length starts a new crop plan: the state says so before any checkpoint of this update, so a run
    resumed from that checkpoint starts the new plan as the uninterrupted run does."""
    state = run.state
    length = run.schedule.duration_at(state.step, run.total_steps)
    if state.step >= run.total_steps or length == run.train_batches.max_duration:
        return False
    logger.info("step %d: crops now <= %gs", state.step, length)
    state.start_epoch()
    return True


def save_if_due(run: PretrainingRun, save_flags: list[float]) -> None:
    """Checkpoint as --save_steps, --save_minutes or a stop signal asks (`save_flags`: every process's, summed in
    the update); push it with --hub_strategy every_save or checkpoint; after a stop signal, leave."""
    step = run.state.step
    if (reason := run.saves.reason(step, save_flags)) and step < run.total_steps:
        checkpoint = run.checkpoint()
        if run.publisher and run.publisher.pushes_every_save:
            run.write_release()
            run.publisher.push(checkpoint, final=False)
        run.saves.exit_if_preempted(reason, run.accelerator, checkpoint)


# --------------------------------------------------------------------------- one update


@dataclass
class Update:
    """What an update leaves for its log line and its checkpoint: its sums, the gradient's norm before clipping,
    the gumbel temperature it trained at, and every process's save and stop flags (`SaveTriggers.flags`)."""

    sums: UpdateSums
    grad_norm: torch.Tensor
    gumbel_temperature: float
    save_flags: list[float]


def update(run: PretrainingRun, micro_batches: list[dict]) -> Update | None:
    """One optimizer update over the micro-batches; None if no process had a masked frame.

    The host never waits on the device here: what it must agree on with the other processes is known before the
    forward pass, and a gradient that is not finite is dropped by the optimizer on the device and counted there
    (`NonfiniteUpdates`), read at the next log line or checkpoint. A dropped update still counts as a step of the
    learning-rate schedule, as under GradScaler."""
    temperature = run.options.gumbel_temperature.at(run.state.step)
    run.unwrapped.set_gumbel_temperature(temperature)
    agreed = agree_before_update(run, micro_batches)
    if agreed.masked_frames == 0:  # every batch of every process held only bad audio
        return None
    sums = accumulate_gradients(run, micro_batches, agreed.masked_frames)
    grad_norm = run.accelerator.clip_grad_norm_(run.model.parameters(), run.options.max_grad_norm)
    run.drop_if_nonfinite(grad_norm)
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    run.state.step += 1
    run.meter.add_step()
    sums.add(masked_frames=agreed.masked_frames, audio_seconds=agreed.audio_seconds, batches=agreed.batches)
    return Update(sums, grad_norm, temperature, agreed.save_flags)


@dataclass
class Agreed:
    """What every process's micro-batches of one update hold, summed over the processes, and their save flags."""

    masked_frames: float
    audio_seconds: float
    batches: float
    save_flags: list[float]


def agree_before_update(run: PretrainingRun, micro_batches: list[dict]) -> Agreed:
    """One all-reduce of numbers the host already has (`HostChannel`): the masked frames that scale the loss, the
    audio and batches the log reports, and whether to checkpoint or stop after this update."""
    good = [b for b in micro_batches if b["num_samples"]]
    held = [sum(b["masked_frames"] for b in good), sum(b["audio_seconds"] for b in good), len(good)]
    masked, audio_seconds, batches, *save_flags = run.host.sum([*held, *run.saves.flags()])
    return Agreed(masked, audio_seconds, batches, save_flags)


def accumulate_gradients(run: PretrainingRun, micro_batches: list[dict], total_masked: float) -> UpdateSums:
    """Forward and backward over one update's micro-batches; the gradients stay in the parameters.

    The model's loss is a sum over masked frames; dividing by the masked frames of every micro-batch
    on every process (times the processes, which DDP averages over) makes the gradient a mean over
    all masked frames, however the audio was split. What the micro-batches hold is known on the CPU
    before any forward pass (`agree_before_update`), so nothing here waits on the device. A process whose
    micro-batches held only bad audio joins the all-reduce with the run's stand-in batch at weight 0.

    Returns this process's sums of the model's outputs and the feature penalty, on the device.
    """
    model, accelerator, meter, step = run.model, run.accelerator, run.meter, run.state.step
    good = [b for b in micro_batches if b["num_samples"]]
    scale = accelerator.num_processes / total_masked
    sums = UpdateSums(accelerator.device)
    passes = [(b, b["masked_frames"]) for b in good] or [(run.stand_in, 0)]
    for i, (micro_batch, batch_frames) in enumerate(passes):
        syncing = i == len(passes) - 1
        with contextlib.nullcontext() if syncing else accelerator.no_sync(model):
            with meter.counting_flops(step, micro_batch["audio_seconds"]):
                outputs = objective.forward(model, micro_batch, accelerator.device)
                penalty = run.encoder_terms.penalty(batch_frames)
                loss = outputs.loss if penalty is None else outputs.loss + penalty
                accelerator.backward(loss * (scale if good else 0.0))
        if good:
            sums.add_outputs(outputs, penalty)
            meter.add_batch(micro_batch)
    return sums


# --------------------------------------------------------------------------- logging


class UpdateLog:
    """The progress bar, and every --logging_steps updates a log line of the interval's losses and rates;
    once, a warning when the codebook is collapsing."""

    def __init__(self, run: PretrainingRun):
        self.run = run
        self.bar = tqdm(
            total=run.total_steps,
            initial=run.state.step,
            disable=not run.accelerator.is_local_main_process,
            desc="pre-training",
        )
        config = run.unwrapped.config
        self.codebook_size = config.num_codevector_groups * config.num_codevectors_per_group
        self.interval = IntervalSums(run.accelerator.device, run.meter.wall_clock_seconds())
        self.collapse_warned = False

    def add(self, done: Update) -> None:
        run, step = self.run, self.run.state.step
        self.interval.add(done.sums)
        self.bar.update(1)
        if step % run.options.logging_steps == 0 or step == run.total_steps:
            self.write(done, step)

    def write(self, done: Update, step: int) -> None:
        run = self.run
        run.nonfinite.read(step)
        metrics = {
            **self.interval.take(run.accelerator, run.meter.wall_clock_seconds()),
            "gumbel_temperature": done.gumbel_temperature,
            "learning_rate": run.scheduler.get_last_lr()[0],
            "grad_norm": done.grad_norm.item(),
            "epoch": run.state.epoch,
        }
        run.accelerator.log(metrics, step=step)
        self.bar.set_postfix(
            loss=f"{metrics['loss']:.3f}",
            ppl=f"{metrics['codevector_perplexity']:.1f}",
            lr=f"{metrics['learning_rate']:.2e}",
        )
        logger.info("step %d: %s", step, json.dumps({k: round(v, 5) for k, v in metrics.items()}))
        perplexity = metrics["codevector_perplexity"]
        run.codevector_perplexities.append(perplexity)
        if (
            not self.collapse_warned
            and step > run.warmup_steps
            and perplexity < PERPLEXITY_COLLAPSE_SHARE * self.codebook_size
        ):
            self.collapse_warned = True
            logger.warning(
                "codevector perplexity %.1f of %d codevectors: the codebook is collapsing. Try a larger "
                "--diversity_loss_weight, a lower --learning_rate or a slower --gumbel_temperature_decay.",
                perplexity,
                self.codebook_size,
            )

    def close(self) -> None:
        self.bar.close()


# --------------------------------------------------------------------------- validation


def validate_before_training(run: PretrainingRun) -> None:
    """Say what the run trains; unless it resumes, validate first: the same fixed validation crops before and
    after, so the drop is what pre-training achieved."""
    logger.info(
        "pre-training %d updates of %s crops <= %s (%d processes) into %s",
        run.total_steps,
        run.options.train_batch_plan.crop_mode,
        run.options.crop_lengths,
        run.accelerator.num_processes,
        run.output_dir,
    )
    if run.resumed_from is None:
        run.state.initial_eval = evaluate(run)
        logger.info("validation before training: %s", run.state.initial_eval)


def tracked_validation(run: PretrainingRun) -> dict:
    """Validate now, and tell the trackers."""
    metrics = evaluate(run)
    run.accelerator.log(metrics, step=run.state.step)
    return metrics


def contrastive_accuracy(outputs: objective.PretrainingOutputs, batch: dict, temperature: float) -> torch.Tensor:
    """Masked frames whose true quantized target scores above every distractor (a device tensor)."""
    negatives = batch["sampled_negative_indices"].to(outputs.loss.device)
    logits = objective.contrastive_logits(outputs.model, negatives, temperature)
    mask = batch["mask_time_indices"].to(logits.device)
    return ((logits.argmax(0) == 0) & mask).sum()


@torch.no_grad()
def evaluate(run: PretrainingRun) -> dict:
    """Loss and contrastive accuracy over the validation crops, summed over every process."""
    model, accelerator = run.model, run.accelerator
    temperature = run.unwrapped.config.contrastive_logits_temperature
    model.eval()
    sums = ValidationSums(accelerator.device)
    masked = 0  # counted by the host, as the batches come, and put on the device once
    for batch in run.eval_loader:
        run.bad_audio.note(batch)
        if batch["num_samples"] == 0:
            continue
        outputs = objective.forward(model, batch, accelerator.device)
        correct = contrastive_accuracy(outputs, batch, temperature)
        sums.add(loss=outputs.loss, contrastive_loss=outputs.contrastive_loss, correct=correct)
        masked += batch["masked_frames"]
    sums.add(masked_frames=masked)
    model.train()
    return sums.metrics(accelerator)
