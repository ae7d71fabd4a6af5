#!/usr/bin/env python
"""What storing cached hidden states in float16 instead of float32 changes, measured on a trained probe.

    python scripts/feature_cache_precision.py --task kws --model outputs/kws-probe
    python scripts/feature_cache_precision.py --task asr --model outputs/asr-probe

For every utterance of the test split (demo corpus unless --data_dir): the hidden states of every layer
in float32, the same rounded to float16, and the probe's head on both. Prints the largest magnitude
(float16 overflows past 65504), the largest relative rounding error, the largest logit difference and
how many predictions (classes, or greedy CTC tokens) differ.
"""

from __future__ import annotations

import argparse

import torch
from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

from hf_seqlen.corpus.audio import AudioDecoder
from hf_seqlen.downstream.args import DownstreamArguments, resolve
from hf_seqlen.downstream.data import load_task_splits
from hf_seqlen.downstream.feature_cache import read_cached_features
from hf_seqlen.downstream.layer_sum_ctc import Wav2Vec2ForCTCWithLayerSum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", required=True, choices=["kws", "asr", "sid"])
    parser.add_argument("--model", required=True, help="a run_downstream.py --freeze_upstream output folder")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--split", default="test")
    options = parser.parse_args()

    loader = Wav2Vec2ForCTCWithLayerSum if options.task == "asr" else Wav2Vec2ForSequenceClassification
    model = loader.from_pretrained(options.model).eval()
    decoder = AudioDecoder.for_extractor(Wav2Vec2FeatureExtractor.from_pretrained(options.model))
    split = load_task_splits(
        resolve(
            DownstreamArguments(
                task=options.task,
                model_name_or_path=options.model,
                data_dir=options.data_dir,
                validation_split_name=None,
                test_split_name=options.split,
            )
        ).data
    )["test"]
    read_cached_features(model)
    largest = rounding = logit_gap = 0.0
    differing = total = 0
    with torch.inference_mode():
        for ref in split["audio"]:
            values = torch.from_numpy(decoder(ref))[None]
            layers = torch.stack(model.wav2vec2(values, output_hidden_states=True).hidden_states, dim=1)
            rounded = layers.half().float()
            largest = max(largest, layers.abs().max().item())
            rounding = max(rounding, ((rounded - layers).abs().max() / layers.abs().max()).item())
            mask = torch.ones(1, layers.shape[2], dtype=torch.bool)
            exact, stored = model(layers, mask).logits, model(rounded, mask).logits
            logit_gap = max(logit_gap, (exact - stored).abs().max().item())
            differing += int((exact.argmax(-1) != stored.argmax(-1)).sum())
            total += exact.argmax(-1).numel()
    unit = "greedy CTC tokens" if options.task == "asr" else "predicted classes"
    print(
        f"{len(split)} utterances; largest |hidden state| {largest:.4g}; largest float16 rounding error "
        f"{rounding:.3g} of the largest value; largest logit difference {logit_gap:.3g}; "
        f"{differing} of {total} {unit} differ"
    )


if __name__ == "__main__":
    main()
