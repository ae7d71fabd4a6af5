"""Probing on cached features (SUPERB): the frozen upstream's hidden states, computed once, read from disk.

A frozen upstream gives an utterance the same hidden states at every step, so running it at every
step costs time and changes nothing. Here every utterance of a split goes through the upstream once,
alone (no padding: what a group-norm upstream needs, and what a pipeline does), and the output of
every layer is kept, so the head's weighted layer sum stays learnable. The model then reads these
features in place of audio (`read_cached_features`); its weights, config and saved folder are those
of the plain model, which runs on audio in a pipeline.

On disk, one folder per split: FEATURE_CACHE_DIR/<part>-<key>/
    features.bin   float16 [frames, layers + 1, hidden size], the utterances one after another
    index.json     the frames of each utterance, the shape, and what the key was made of
The key hashes the upstream's weights and config, the decoder's settings, the split's `datasets`
fingerprint, the size and modification time of its audio files and the storage format, so a changed
upstream or split never reads a stale cache. A cache is written to a temporary folder and renamed
when complete.

Size: frames x (layers + 1) x hidden size x 2 bytes (about 50 frames per second of audio), checked
against --feature_cache_max_gib and the free disk space before anything is computed. Memory: the
file is memory-mapped, so a batch reads only its own frames.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MethodType
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from torch import nn
from transformers import TrainingArguments, Wav2Vec2Config, Wav2Vec2ForSequenceClassification
from transformers.modeling_outputs import CausalLMOutput, SequenceClassifierOutput

from ..corpus.audio import AudioDecoder
from ..option_parsing import UsageError
from .data import TaskData, stack_labels, training_crop
from .layer_sum_ctc import Wav2Vec2ForCTCWithLayerSum

logger = logging.getLogger(__name__)

# float16 halves the disk and page cache of float32; measured on the demo corpus it gives the same
# predictions (docs/downstream.md). The key holds it, so a change of format never reads old files.
STORAGE_DTYPE = np.dtype("float16")
FORMAT_VERSION = 1
GIB = 2**30


def weights_digest(module: nn.Module) -> str:
    """sha256 of every tensor of the module, by name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def audio_files_digest(split: Dataset, audio_column: str) -> str:
    """sha256 of the path, size and modification time of every audio file the split reads from disk. The
    `datasets` fingerprint of a local folder does not change when a file is rewritten in place; this does.
    Audio held as bytes in the dataset is covered by its fingerprint."""
    digest = hashlib.sha256()
    for ref in split[audio_column]:
        if ref.get("bytes") is None and ref.get("path") and os.path.isfile(ref["path"]):
            stat = os.stat(ref["path"])
            digest.update(f"{ref['path']}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cache_key(
    upstream_digest: str, upstream_config: Wav2Vec2Config, decoder: AudioDecoder, split: Dataset, audio_column: str
) -> tuple[str, dict]:
    """The key of one split's cache, and what it was made of (kept in index.json for whoever inspects it)."""
    config = upstream_config.to_dict()
    config.pop("_name_or_path", None)  # where the upstream lies does not change its features
    parts = {
        "format": FORMAT_VERSION,
        "dtype": STORAGE_DTYPE.name,
        "upstream_weights_sha256": upstream_digest,
        "upstream_config": config,
        "sampling_rate": decoder.sampling_rate,
        "do_normalize": decoder.do_normalize,
        "dataset_fingerprint": split._fingerprint,
        "audio_files_sha256": audio_files_digest(split, audio_column),
        "audio_column": audio_column,
    }
    key = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return key, parts


def frames_of(model: nn.Module, seconds: float, sampling_rate: int) -> int:
    """Frames the upstream makes of `seconds` of audio."""
    return int(model._get_feat_extract_output_lengths(torch.tensor(round(seconds * sampling_rate))))


def expected_bytes(model: nn.Module, durations: list[float], sampling_rate: int) -> int:
    frames = sum(frames_of(model, seconds, sampling_rate) for seconds in durations)
    return frames * (model.config.num_hidden_layers + 1) * model.config.hidden_size * STORAGE_DTYPE.itemsize


class CachedSplit:
    """One split's features, memory-mapped: `utterance(i)` is [frames, layers + 1, hidden size]."""

    def __init__(self, folder: Path):
        index = json.loads((folder / "index.json").read_text())
        self.frames = index["frames"]
        self.offsets = np.concatenate([[0], np.cumsum(self.frames)]).tolist()
        self.features = np.memmap(
            folder / "features.bin", dtype=np.dtype(index["dtype"]), mode="r", shape=tuple(index["shape"])
        )

    def utterance(self, index: int, start: int = 0, length: int | None = None) -> np.ndarray:
        first = self.offsets[index] + start
        return self.features[first : first + (self.frames[index] - start if length is None else length)]


@torch.inference_mode()
def _write_split(
    folder: Path, model: nn.Module, split: Dataset, *, decoder: AudioDecoder, audio_column: str, key_parts: dict
) -> None:
    """Every utterance through the upstream alone, on the device the model is on."""
    frames = []
    with open(folder / "features.bin", "wb") as out:
        for ref in split[audio_column]:
            values = torch.from_numpy(decoder(ref)).to(model.device)[None]
            hidden_states = model.wav2vec2(values, output_hidden_states=True).hidden_states
            layers = torch.stack(hidden_states, dim=2)[0].to(torch.float16)  # [frames, layers + 1, hidden]
            if not torch.isfinite(layers).all():
                raise UsageError(
                    "this upstream's hidden states exceed float16's range (65504), so they cannot be "
                    "cached: probe through the live upstream with --no_cache_features."
                )
            out.write(layers.cpu().numpy().tobytes())
            frames.append(layers.shape[0])
    shape = [sum(frames), model.config.num_hidden_layers + 1, model.config.hidden_size]
    index = {"frames": frames, "shape": shape, "dtype": STORAGE_DTYPE.name, "key": key_parts}
    (folder / "index.json").write_text(json.dumps(index, default=str) + "\n")


def cached_split(
    folder: Path, model: nn.Module, split: Dataset, *, decoder: AudioDecoder, audio_column: str, key_parts: dict
) -> CachedSplit:
    """The cache in `folder`, computed first unless a complete one is there."""
    if not (folder / "index.json").is_file():
        started = time.perf_counter()
        partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        was_training = model.training
        model.eval()
        try:
            _write_split(partial, model, split, decoder=decoder, audio_column=audio_column, key_parts=key_parts)
        finally:
            model.train(was_training)
        try:
            partial.rename(folder)
        except OSError:  # another process finished the same cache first: keep theirs
            if not (folder / "index.json").is_file():
                raise
            shutil.rmtree(partial)
        logger.info("feature cache: computed %s in %.1f s", folder, time.perf_counter() - started)
    else:
        logger.info("feature cache: reusing %s", folder)
    return CachedSplit(folder)


class CachedFeatures(torch.utils.data.Dataset):
    """Utterance i's cached features with its target. Training: a random crop of `crop_frames`, drawn as
    LabelledAudio draws its audio crops (random_crop, a new one each time), in frames; else whole."""

    def __init__(self, cache: CachedSplit, targets: list[Any], crop_frames: int | None = None, seed: int = 0):
        self.cache, self.targets, self.crop_frames, self.seed = cache, targets, crop_frames, seed

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> dict:
        start, length = 0, None
        if self.crop_frames is not None:
            start, length = map(int, training_crop(index, self.cache.frames[index], self.crop_frames, self.seed))
        features = torch.from_numpy(np.array(self.cache.utterance(index, start, length), dtype=np.float32))
        return {"layer_features": features.transpose(0, 1), "labels": self.targets[index]}  # [layers, frames, hidden]


def collate_features(features: list[dict]) -> dict[str, torch.Tensor]:
    """Pads frames with zeros: layer_features [batch, layers, frames, hidden] and a frame_mask of real frames."""
    lengths = [f["layer_features"].shape[1] for f in features]
    layers, _, hidden = features[0]["layer_features"].shape
    padded = torch.zeros(len(features), layers, max(lengths), hidden)
    frame_mask = torch.zeros(len(features), max(lengths), dtype=torch.bool)
    for row, (feature, length) in enumerate(zip(features, lengths)):
        padded[row, :, :length] = feature["layer_features"]
        frame_mask[row, :length] = True
    return {"layer_features": padded, "frame_mask": frame_mask, "labels": stack_labels([f["labels"] for f in features])}


def _weighted_layer_sum(layer_weights: nn.Parameter, layer_features: torch.Tensor) -> torch.Tensor:
    weights = nn.functional.softmax(layer_weights, dim=-1)
    return (layer_features * weights.view(-1, 1, 1)).sum(dim=1)


def _classification_forward(self: Wav2Vec2ForSequenceClassification, layer_features, frame_mask, labels=None):
    """Wav2Vec2ForSequenceClassification's head on cached layers: layer sum, projector, mean of the real frames."""
    hidden = self.projector(_weighted_layer_sum(self.layer_weights, layer_features))
    mask = frame_mask.unsqueeze(-1).to(hidden.dtype)
    logits = self.classifier((hidden * mask).sum(dim=1) / mask.sum(dim=1))
    loss = None if labels is None else nn.functional.cross_entropy(logits, labels)
    return SequenceClassifierOutput(loss=loss, logits=logits)


def _ctc_forward(self: Wav2Vec2ForCTCWithLayerSum, layer_features, frame_mask, labels=None):
    """Wav2Vec2ForCTCWithLayerSum's head on cached layers: the code its forward runs on the live layers."""
    loss, logits = self.layer_sum_head(layer_features, frame_mask.sum(-1), labels)
    return CausalLMOutput(loss=loss, logits=logits)


def read_cached_features(model: nn.Module) -> None:
    """Make this model instance take {layer_features, frame_mask, labels} in place of audio.

    Only its forward changes, in this process: the upstream is not run, the head and layer weights are
    the model's own, and save_pretrained writes the plain model (upstream + head), which runs on audio.
    """
    if isinstance(model, Wav2Vec2ForSequenceClassification) and model.config.use_weighted_layer_sum:
        model.forward = MethodType(_classification_forward, model)
    elif isinstance(model, Wav2Vec2ForCTCWithLayerSum):
        model.forward = MethodType(_ctc_forward, model)
    else:
        raise TypeError(f"{type(model).__name__} has no weighted layer sum to train on cached features")


def _check_room(
    model: nn.Module, missing: dict[str, Dataset], folder: Path, max_gib: float, sampling_rate: int
) -> None:
    """Refuse, before computing anything, a cache over --feature_cache_max_gib or the free disk space."""
    size = sum(expected_bytes(model, split["duration"], sampling_rate) for split in missing.values())
    existing = folder
    while not existing.exists():
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    fix = (
        "point --feature_cache_dir to a larger disk, raise --feature_cache_max_gib, or probe through the live "
        "upstream with --no_cache_features"
    )
    if size > max_gib * GIB:
        raise UsageError(
            f"the feature cache would take {size / GIB:.1f} GiB, over --feature_cache_max_gib {max_gib:g}: {fix}."
        )
    if size > free:
        raise UsageError(
            f"the feature cache needs {size / GIB:.1f} GiB in {folder} but {free / GIB:.1f} GiB are free: {fix}."
        )
    logger.info("feature cache: about %.1f MiB to compute for %s in %s", size / 2**20, ", ".join(missing), folder)


@dataclass(frozen=True)
class FeatureCache:
    """A probe's cache of hidden states: where it goes, how large it may grow, and the upstream whose weights and
    config key it."""

    upstream: str  # --model_name_or_path
    hub_cache_dir: str | None  # --cache_dir: where the upstream's Hub download is cached
    folder: str | None  # --feature_cache_dir; None: OUTPUT_DIR/feature_cache
    max_gib: float  # --feature_cache_max_gib

    def datasets(
        self,
        model: nn.Module,
        splits: dict[str, Dataset],
        encode: Callable[[Dataset], list[Any]],
        data: TaskData,
        training_args: TrainingArguments,
        decoder: AudioDecoder,
    ) -> tuple[dict[str, CachedFeatures], dict]:
        """Each split's features, computed (on the training device) unless cached; training crops for
        classification. Also what the cache cost, for results.json: the seconds spent computing it are part of the
        probe's cost."""
        root = Path(self.folder or Path(training_args.output_dir) / "feature_cache")
        upstream_config = Wav2Vec2Config.from_pretrained(self.upstream, cache_dir=self.hub_cache_dir)
        digest = weights_digest(model.wav2vec2)
        keys = {
            part: cache_key(digest, upstream_config, decoder, split, data.audio_column_name)
            for part, split in splits.items()
        }
        folders = {part: root / f"{part}-{key}" for part, (key, _) in keys.items()}
        model.to(training_args.device)
        crop_frames = frames_of(model, data.max_duration, decoder.sampling_rate) if data.is_classification else None
        datasets, started = {}, time.perf_counter()
        # One process computes what is missing; the others then find it complete.
        with training_args.main_process_first(local=True, desc="feature cache"):
            missing = {part: split for part, split in splits.items() if not (folders[part] / "index.json").is_file()}
            if missing:
                _check_room(model, missing, root, self.max_gib, decoder.sampling_rate)
            for part, split in splits.items():
                cache = cached_split(
                    folders[part],
                    model,
                    split,
                    decoder=decoder,
                    audio_column=data.audio_column_name,
                    key_parts=keys[part][1],
                )
                datasets[part] = CachedFeatures(
                    cache, encode(split), crop_frames if part == "train" else None, training_args.seed
                )
        report = {
            "dir": str(root.resolve()),
            "computed": sorted(missing),
            "reused": sorted(set(splits) - set(missing)),
            "seconds": time.perf_counter() - started,
            "bytes": sum((folder / "features.bin").stat().st_size for folder in folders.values()),
        }
        return datasets, report
