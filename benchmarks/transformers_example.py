#!/usr/bin/env python
"""What transformers' examples/pytorch/speech-pretraining/run_wav2vec2_pretraining_no_trainer.py does,
written here so that a whole run of it can be timed against ours on the same corpus.

    python benchmarks/transformers_example.py --data_dir CORPUS --model_name_or_path hub_configs/wav2vec2-tiny \
        --output_dir OUT --max_duration_in_seconds 2 --min_duration_in_seconds 0.5 --max_train_steps 100

Kept from the example, because they are what a user of it pays for:
- the first `validation_split_percentage` % of the files are validation, the rest train;
- an up-front `datasets.map` decodes every file whole, truncates it to `max_duration_in_seconds` and
  normalises it with the feature extractor, into an Arrow cache file; then the minimum-length filter;
- shuffled batches of a fixed size, padded to the longest by the feature extractor, from rows stored
  as lists of floats; mask and negatives drawn in the collator with transformers' own functions;
- the loss summed over masked frames, gradients divided by the masked frames of the batch, the
  gradient norm summed parameter by parameter with one `.item()` each, AdamW, linear schedule,
  the gumbel temperature decayed per update;
- validation and `save_pretrained` at the end of every epoch.
Changed, each because it cannot run here: files are listed from a folder (as `audiofolder` would)
and decoded with soundfile (+ soxr where the rate differs), since datasets' own decoding needs
torchcodec; the optimizer is torch's AdamW (transformers' was removed); no wandb, no Hub push.
Kept as well: it refuses a config without the stable-layer-norm architecture, checked before any
audio is decoded rather than after.
A line `step N: ...` is printed after every `logging_steps`-th update (the example prints the same
figures without the step), so a harness can read when the first update finished.
Added for measuring it: `--stats_file` writes what the run cost, counted as run_pretrain.py counts its own
(hf_seqlen.costs.meter.CostMeter: FLOPs by FlopCounterMode on the first updates, extrapolated per second of audio
fed; the audio fed is each utterance's length, padding left out). Without it nothing is counted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from pathlib import Path

import datasets
import numpy as np
import soundfile as sf
import soxr
import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForPreTraining, get_scheduler, set_seed
from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", required=True, help="a folder of audio files (searched recursively)")
    parser.add_argument(
        "--model_name_or_path", required=True, help="folder with config.json and preprocessor_config.json"
    )
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--cache_dir", default=None, help="where the listed files and the Arrow cache go")
    parser.add_argument("--validation_split_percentage", type=int, default=1)
    parser.add_argument("--max_duration_in_seconds", type=float, default=5.0)
    parser.add_argument("--min_duration_in_seconds", type=float, default=3.0)
    parser.add_argument("--preprocessing_num_workers", type=int, default=None)
    parser.add_argument("--per_device_train_batch_size", type=int, default=8)
    parser.add_argument("--per_device_eval_batch_size", type=int, default=8)
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--weight_decay", type=float, default=0.0)
    parser.add_argument("--adam_beta1", type=float, default=0.9)
    parser.add_argument("--adam_beta2", type=float, default=0.999)
    parser.add_argument("--adam_epsilon", type=float, default=1e-8)
    parser.add_argument("--num_train_epochs", type=int, default=3)
    parser.add_argument("--max_train_steps", type=int, default=None)
    parser.add_argument("--gradient_accumulation_steps", type=int, default=1)
    parser.add_argument("--lr_scheduler_type", default="linear")
    parser.add_argument("--num_warmup_steps", type=int, default=0)
    parser.add_argument("--max_gumbel_temperature", type=float, default=2.0)
    parser.add_argument("--min_gumbel_temperature", type=float, default=0.5)
    parser.add_argument("--gumbel_temperature_decay", type=float, default=0.999995)
    parser.add_argument("--logging_steps", type=int, default=500)
    parser.add_argument("--saving_steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--stats_file",
        default=None,
        help="write the run's counted FLOPs, wall-clock, peak memory and audio fed here (JSON)",
    )
    return parser.parse_args(argv)


def refusal(config: Wav2Vec2Config, source: str) -> str | None:
    """Why the example will not pre-train `config` (None: it will). It pre-trains the stable-layer-norm architecture
    only: a group-norm encoder takes no attention mask, so padded frames would be masked, drawn as distractors and
    scored."""
    if config.do_stable_layer_norm and config.feat_extract_norm == "layer":
        return None
    return (
        f"{source} has do_stable_layer_norm={config.do_stable_layer_norm} and "
        f"feat_extract_norm={config.feat_extract_norm!r}; the example pre-trains only configs with "
        "do_stable_layer_norm=True and feat_extract_norm='layer'. Give it a layer-norm config, e.g. "
        "hub_configs/wav2vec2-base-layernorm at BASE size."
    )


def list_audio(folder: Path, cache_dir: Path) -> datasets.Dataset:
    """The files as a dataset stored on disk, as `load_dataset` leaves it: a later `map` then writes
    its result into an Arrow cache file beside it instead of holding it in memory."""
    files = sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        sys.exit(f"error: no audio files in {folder}")
    listed = cache_dir / "listed"
    datasets.Dataset.from_dict({"audio": files}).save_to_disk(str(listed))
    return datasets.load_from_disk(str(listed))


class Collator:
    """Pad to the longest, then draw mask and negatives on the padded shape (the example's collator)."""

    def __init__(self, model: Wav2Vec2ForPreTraining, feature_extractor: Wav2Vec2FeatureExtractor):
        self.model = model
        self.feature_extractor = feature_extractor

    def __call__(self, features: list[dict]) -> dict:
        lengths = torch.tensor([len(f["input_values"]) for f in features])  # for --stats_file; not a model input
        batch = self.feature_extractor.pad(features, padding="longest", return_tensors="pt")
        frames = int(self.model._get_feat_extract_output_lengths(batch["input_values"].shape[-1]))
        if batch.get("attention_mask") is not None:
            batch["sub_attention_mask"] = self.model._get_feature_vector_attention_mask(frames, batch["attention_mask"])
        shape = (batch["input_values"].shape[0], frames)
        config = self.model.config
        mask = _compute_mask_indices(
            shape, config.mask_time_prob, config.mask_time_length, attention_mask=batch.get("sub_attention_mask")
        )
        negatives = _sample_negative_indices(shape, config.num_negatives, mask_time_indices=mask)
        batch["mask_time_indices"] = torch.tensor(mask, dtype=torch.long)
        batch["sampled_negative_indices"] = torch.tensor(negatives, dtype=torch.long)
        batch["input_lengths"] = lengths
        return batch


def scale_gradients(parameters, factor) -> None:
    for p in parameters:
        if p.grad is not None:
            p.grad.data.mul_(factor.to(p.grad.device) if torch.is_tensor(factor) else factor)


def gradient_norm(parameters, scale: float = 1.0) -> float:
    """Summed parameter by parameter, one host synchronisation each, as the example does."""
    total = 0.0
    for p in parameters:
        if p.grad is not None:
            total += (p.grad.detach().data / scale).norm(2).item() ** 2
    return total**0.5


def fed(lengths: torch.Tensor, model: Wav2Vec2ForPreTraining, rate: int) -> dict:
    """What a batch feeds, as CostMeter.add_batch counts it: the utterances' lengths, padding left out."""
    return {
        "audio_seconds": lengths.sum().item() / rate,
        "num_samples": len(lengths),
        "frames": int(model._get_feat_extract_output_lengths(lengths).sum()),
        "longest_seconds": lengths.max().item() / rate,
    }


def start_meter(accelerator: Accelerator):
    """The meter run_pretrain.py uses, started where it starts its own: data and model ready. Imported here, not
    at the top: the whole-process benchmark times this script's start-up, which codecarbon's import would add to."""
    from hf_seqlen.costs.meter import CostMeter

    return CostMeter(accelerator, track_energy=False).start()


def main(argv=None) -> int:
    args = parse_args(argv)
    config = Wav2Vec2Config.from_pretrained(args.model_name_or_path)
    refused = refusal(config, args.model_name_or_path)
    if refused:
        sys.exit(f"error: {refused}")
    accelerator = Accelerator()
    set_seed(args.seed)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(args.cache_dir or output_dir / "datasets_cache")

    raw = list_audio(Path(args.data_dir), cache_dir)
    n_validation = raw.num_rows * args.validation_split_percentage // 100
    if n_validation == 0:
        sys.exit("error: --validation_split_percentage leaves no validation file; raise it")
    raw = datasets.DatasetDict(
        {"validation": raw.select(range(n_validation)), "train": raw.select(range(n_validation, raw.num_rows))}
    )

    feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained(args.model_name_or_path)
    rate = feature_extractor.sampling_rate
    max_length = int(args.max_duration_in_seconds * rate)
    min_length = int(args.min_duration_in_seconds * rate)

    def prepare(example: dict) -> dict:
        samples, file_rate = sf.read(example["audio"], dtype="float32", always_2d=True)  # the whole file
        mono = samples.mean(axis=1)
        if file_rate != rate:
            mono = soxr.resample(mono, file_rate, rate, quality="HQ").astype(np.float32)
        values = feature_extractor(mono, sampling_rate=rate, max_length=max_length, truncation=True).input_values[0]
        return {"input_values": values, "input_length": len(values)}

    with accelerator.main_process_first():
        vectorized = raw.map(prepare, num_proc=args.preprocessing_num_workers, remove_columns=["audio"])
        if min_length > 0:
            vectorized = vectorized.filter(
                lambda length: length > min_length,
                input_columns=["input_length"],
                num_proc=args.preprocessing_num_workers,
            )
        vectorized = vectorized.remove_columns("input_length")

    model = Wav2Vec2ForPreTraining(config)
    collator = Collator(model, feature_extractor)
    train_loader = DataLoader(
        vectorized["train"], shuffle=True, collate_fn=collator, batch_size=args.per_device_train_batch_size
    )
    eval_loader = DataLoader(vectorized["validation"], collate_fn=collator, batch_size=args.per_device_eval_batch_size)
    optimizer = torch.optim.AdamW(
        list(model.parameters()),
        lr=args.learning_rate,
        betas=(args.adam_beta1, args.adam_beta2),
        eps=args.adam_epsilon,
        weight_decay=args.weight_decay,
    )
    model, optimizer, train_loader, eval_loader = accelerator.prepare(model, optimizer, train_loader, eval_loader)
    unwrapped = accelerator.unwrap_model(model)

    updates_per_epoch = math.ceil(len(train_loader) / args.gradient_accumulation_steps)
    max_train_steps = args.max_train_steps or args.num_train_epochs * updates_per_epoch
    scheduler = get_scheduler(args.lr_scheduler_type, optimizer, args.num_warmup_steps, max_train_steps)
    epochs = math.ceil(max_train_steps / updates_per_epoch)

    meter = start_meter(accelerator) if args.stats_file else None
    progress = tqdm(range(max_train_steps), disable=not accelerator.is_local_main_process)
    completed = 0
    for _epoch in range(epochs):
        model.train()
        for step, batch in enumerate(train_loader):
            lengths = batch.pop("input_lengths")
            num_losses = batch["mask_time_indices"].sum()
            sub_attention_mask = batch.pop("sub_attention_mask", None)
            if sub_attention_mask is None:
                sub_attention_mask = torch.ones_like(batch["mask_time_indices"])
            percent_masked = num_losses / sub_attention_mask.sum()
            counting = contextlib.nullcontext()
            if meter is not None:
                batch_fed = fed(lengths, unwrapped, rate)
                meter.add_batch(batch_fed)
                counting = meter.counting_flops(completed, batch_fed["audio_seconds"])
            with counting:
                outputs = model(**batch)
                loss = outputs.loss / args.gradient_accumulation_steps
                accelerator.backward(loss)
            if accelerator.num_processes > 1:
                num_losses = accelerator.gather(num_losses).sum()
                scale_gradients(model.module.parameters(), accelerator.num_processes / num_losses)
            else:
                scale_gradients(model.parameters(), 1 / num_losses)

            if (step + 1) % args.gradient_accumulation_steps == 0 or step == len(train_loader) - 1:
                scale = accelerator.scaler._scale.item() if accelerator.scaler is not None else 1
                grad_norm = gradient_norm(unwrapped.parameters(), scale)
                optimizer.step()
                optimizer.zero_grad()
                if not accelerator.optimizer_step_was_skipped:
                    scheduler.step()
                temperature = max(
                    args.max_gumbel_temperature * args.gumbel_temperature_decay**completed, args.min_gumbel_temperature
                )
                unwrapped.set_gumbel_temperature(temperature)
                progress.update(1)
                completed += 1
                if meter is not None:
                    meter.add_step()

            if (step + 1) % (args.gradient_accumulation_steps * args.logging_steps) == 0:
                logs = {
                    "loss": loss.detach() * args.gradient_accumulation_steps / num_losses,
                    "constrast_loss": outputs.contrastive_loss.detach() / num_losses,
                    "div_loss": outputs.diversity_loss.detach() / num_losses,
                    "%_mask_idx": percent_masked,
                    "ppl": outputs.codevector_perplexity,
                    "lr": torch.tensor(optimizer.param_groups[0]["lr"]),
                    "temp": torch.tensor(temperature),
                    "grad_norm": torch.tensor(grad_norm),
                }
                if accelerator.is_local_main_process:
                    progress.write(f"step {completed}: " + "".join(f"| {k}: {v.item():.3e}" for k, v in logs.items()))

            if (step + 1) % (args.gradient_accumulation_steps * args.saving_steps) == 0:
                accelerator.wait_for_everyone()
                unwrapped.save_pretrained(
                    output_dir, is_main_process=accelerator.is_main_process, save_function=accelerator.save
                )
            if completed >= max_train_steps:
                break

        model.eval()
        sums = {"val_loss": 0, "val_contrastive_loss": 0, "val_diversity_loss": 0, "val_num_losses": 0}
        for batch in eval_loader:
            with torch.no_grad():
                batch.pop("sub_attention_mask", None)
                batch.pop("input_lengths")
                outputs = model(**batch)
            sums["val_loss"] += outputs.loss
            sums["val_contrastive_loss"] += outputs.contrastive_loss
            sums["val_diversity_loss"] += outputs.diversity_loss
            sums["val_num_losses"] += batch["mask_time_indices"].sum()
        if accelerator.num_processes > 1:
            sums = {k: accelerator.gather(v).sum() for k, v in sums.items()}
        if accelerator.is_local_main_process:
            progress.write("".join(f"| {k}: {(v / sums['val_num_losses']).item():.3e}" for k, v in sums.items()))
        accelerator.wait_for_everyone()
        unwrapped.save_pretrained(
            output_dir, is_main_process=accelerator.is_main_process, save_function=accelerator.save
        )
    if meter is not None:
        costs = meter.finish()  # every process takes part in the totals
        if accelerator.is_main_process:
            Path(args.stats_file).write_text(json.dumps(costs, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
