"""ASR with CTC: a character vocabulary from the training transcripts, Wav2Vec2ForCTC, greedy decoding, WER and CER."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from transformers import (
    EvalPrediction,
    Wav2Vec2CTCTokenizer,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2ForCTC,
    Wav2Vec2Processor,
)
from transformers.trainer_utils import PredictionOutput

from ..metrics import transcript_outcome
from ..statistics import metrics_of
from .args import ResolvedOptions
from .layer_sum_ctc import Wav2Vec2ForCTCWithLayerSum, Wav2Vec2LayerSumConfig
from .layer_weights import load_with_uniform_layer_weights

WORD_DELIMITER, PAD, UNK = "|", "[PAD]", "[UNK]"
METRICS = ("wer", "cer")


def normalize_transcript(text: str) -> str:
    """Lower case, single spaces: the vocabulary and the error rates both see this form."""
    return " ".join(str(text).lower().split())


def build_processor(
    train: Dataset, text_column: str, feature_extractor: Wav2Vec2FeatureExtractor, output_dir: Path
) -> Wav2Vec2Processor:
    """Every character of the training transcripts, space written as `|`, plus [UNK] and [PAD]."""
    characters = sorted({char for text in train[text_column] for char in normalize_transcript(text)} - {" "})
    vocab = {char: i for i, char in enumerate([WORD_DELIMITER, *characters, UNK, PAD])}
    output_dir.mkdir(parents=True, exist_ok=True)
    vocab_file = output_dir / "vocab.json"
    vocab_file.write_text(json.dumps(vocab, indent=1) + "\n")
    tokenizer = Wav2Vec2CTCTokenizer(str(vocab_file), unk_token=UNK, pad_token=PAD, word_delimiter_token=WORD_DELIMITER)
    return Wav2Vec2Processor(feature_extractor=feature_extractor, tokenizer=tokenizer)


def encoder(processor: Wav2Vec2Processor, text_column: str) -> Callable[[Dataset], list[list[int]]]:
    def encode(dataset: Dataset) -> list[list[int]]:
        return [processor.tokenizer(normalize_transcript(t)).input_ids for t in dataset[text_column]]

    return encode


def load_model(
    upstream: str,
    processor: Wav2Vec2Processor,
    layer_sum: bool,
    cache_dir: str | None,
    probe_head: dict | None = None,
    **config_overrides,
) -> Wav2Vec2ForCTC:
    """A fresh CTC head on the upstream; with `layer_sum` (a probe's), the head reads the weighted sum of all
    layers, through the head `probe_head` describes (Wav2Vec2LayerSumConfig's ctc_head options; default: linear)."""
    head = {
        "vocab_size": len(processor.tokenizer),
        "pad_token_id": processor.tokenizer.pad_token_id,
        "ctc_loss_reduction": "mean",
        "ctc_zero_infinity": True,  # an utterance with more characters than frames must not make the loss inf
        **config_overrides,
    }
    if not layer_sum:
        return Wav2Vec2ForCTC.from_pretrained(upstream, cache_dir=cache_dir, **head)
    config = Wav2Vec2LayerSumConfig.from_pretrained(
        upstream, cache_dir=cache_dir, use_weighted_layer_sum=True, **head, **(probe_head or {})
    )
    # Saved with its code (auto_map), so the folder loads with trust_remote_code=True.
    Wav2Vec2LayerSumConfig.register_for_auto_class()
    Wav2Vec2ForCTCWithLayerSum.register_for_auto_class("AutoModelForCTC")
    return load_with_uniform_layer_weights(Wav2Vec2ForCTCWithLayerSum, upstream, config=config, cache_dir=cache_dir)


def utterance_frames(model, durations: list[float], sampling_rate: int) -> np.ndarray:
    """Output frames of each utterance of the given durations, as the model's feature encoder makes them. Samples are
    the duration at the decoding rate: exact without resampling, within one sample with it."""
    samples = torch.tensor([round(d * sampling_rate) for d in durations])
    return model._get_feat_extract_output_lengths(samples).numpy()


def outcomes(
    processor: Wav2Vec2Processor,
    predicted_ids: np.ndarray,
    references: list[str],
    ids: list[str],
    frames: np.ndarray | None = None,
) -> list[dict]:
    """Each utterance scored on its own: greedy CTC decoding of its own `frames` against the original transcript (not
    one decoded back from label ids, where characters unseen in training would read as [UNK])."""
    tokenizer = processor.tokenizer
    # Frames past an utterance's end (padding in its evaluation batch, or -100 where Trainer joined batches of
    # different lengths) are blanks: what a batch of one would decode.
    past_end = predicted_ids == -100
    if frames is not None:
        past_end |= np.arange(predicted_ids.shape[1])[None] >= np.asarray(frames)[:, None]
    predicted_ids = np.where(past_end, tokenizer.pad_token_id, predicted_ids)
    hypotheses = tokenizer.batch_decode(predicted_ids)
    return [
        {
            "id": example_id,
            "reference": reference,
            "prediction": hypothesis,
            **transcript_outcome(reference, hypothesis),
        }
        for example_id, reference, hypothesis in zip(ids, references, hypotheses, strict=True)
    ]


def metrics_computer(
    processor: Wav2Vec2Processor, references: list[str] | None, frames: np.ndarray | None = None
) -> Callable[[EvalPrediction], dict]:
    """WER and CER of the evaluation split during training, against its original transcripts."""

    def compute(prediction: EvalPrediction) -> dict:
        if references is None:
            return {}
        examples = outcomes(
            processor, prediction.predictions, references, [str(i) for i in range(len(references))], frames
        )
        return metrics_of(examples, METRICS)

    return compute


def greedy_ids(logits, labels):
    """Trainer's preprocess_logits_for_metrics: keep the best token per frame, not every logit."""
    return logits.argmax(dim=-1)


class CtcTask:
    """asr behind the task interface (tasks.py): a vocabulary from the training transcripts, a CTC head, and each
    utterance scored on its own frames against its original transcript."""

    def __init__(
        self,
        options: ResolvedOptions,
        splits: dict[str, Dataset],
        feature_extractor: Wav2Vec2FeatureExtractor,
        output_dir: Path,
    ):
        self.text_column = options.data.text_column_name
        self.processor = build_processor(splits["train"], self.text_column, feature_extractor, output_dir)
        self.model = load_model(
            options.model_name_or_path,
            self.processor,
            options.protocol.reads_layer_sum,
            options.cache_dir,
            options.ctc_probe_head,
            **options.protocol.config_overrides(),
        )
        self.references = {
            part: [normalize_transcript(t) for t in split[self.text_column]] for part, split in splits.items()
        }
        self.frames = {
            part: utterance_frames(self.model, split["duration"], feature_extractor.sampling_rate)
            for part, split in splits.items()
        }
        self.metric_names = METRICS
        self.keep_from_logits = greedy_ids
        self.compute_metrics = metrics_computer(self.processor, self.references.get("eval"), self.frames.get("eval"))

    def targets(self, split: Dataset) -> list[list[int]]:
        return encoder(self.processor, self.text_column)(split)

    def outcomes(self, part: str, output: PredictionOutput, ids: list[str]) -> list[dict]:
        return outcomes(self.processor, output.predictions, self.references[part], ids, self.frames[part])
