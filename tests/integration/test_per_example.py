"""Per-example outcomes of downstream runs: scored against the original targets, stored beside results.json."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from hf_seqlen.cli import downstream_main
from hf_seqlen.corpus.sources import DEMO_CORPUS
from tiny_upstreams import save_upstream


@pytest.mark.parametrize("cache", ["cached", "live"])
def test_asr_error_rates_do_not_depend_on_the_evaluation_batch_size(cache, tmp_path):
    """A layer-norm upstream with an attention mask (evaluated in batches) and a head fresh enough to emit tokens
    everywhere: one clip per batch and eight per batch must decode the same transcripts."""
    upstream = save_upstream(tmp_path / "upstream")
    source = [] if cache == "cached" else ["--no_cache_features"]
    found = []
    for batch in (1, 8):
        output_dir = tmp_path / f"eval-batch-{batch}"
        assert (
            downstream_main(
                [
                    "--disable_tqdm",
                    "true",
                    "--task",
                    "asr",
                    "--freeze_upstream",
                    "--ctc_head",
                    "linear",
                    "--model_name_or_path",
                    str(upstream),
                    "--output_dir",
                    str(output_dir),
                    "--max_steps",
                    "2",
                    "--max_eval_samples",
                    "8",
                    "--test_split_name",
                    "",
                    "--per_device_eval_batch_size",
                    str(batch),
                    "--seed",
                    "1",
                    *source,
                ]
            )
            == 0
        )
        results = json.loads((output_dir / "results.json").read_text())["metrics"]["eval"]
        found.append({name: results[name] for name in ("wer", "cer")})
    assert found[0] == found[1]


def test_a_classification_run_stores_its_test_outcomes_beside_results(pretrained_checkpoint, tmp_path):
    output_dir = tmp_path / "kws"
    assert (
        downstream_main(
            [
                "--disable_tqdm",
                "true",
                "--task",
                "kws",
                "--model_name_or_path",
                str(pretrained_checkpoint),
                "--output_dir",
                str(output_dir),
                "--max_steps",
                "5",
            ]
        )
        == 0
    )
    results = json.loads((output_dir / "results.json").read_text())
    assert results["examples"]["test"] == "test_examples.jsonl"
    examples = [json.loads(line) for line in (output_dir / "test_examples.jsonl").read_text().splitlines()]
    assert len({e["id"] for e in examples}) == len(examples) > 10
    assert all(e["correct"] == (e["reference"] == e["prediction"]) for e in examples)
    # Each clip's speaker, as the demo corpus' metadata names its voice.
    with open(DEMO_CORPUS / "test" / "metadata.csv") as f:
        voices = {row["file_name"]: row["speaker"] for row in csv.DictReader(f)}
    assert all(e["cluster"] == voices[e["id"].split("/demo_corpus/test/", 1)[1]] for e in examples)
    assert len({e["cluster"] for e in examples}) > 1
    assert {e["reference"] for e in examples} <= set(json.loads((output_dir / "config.json").read_text())["label2id"])
    accuracy = results["metrics"]["test"]["accuracy"]
    assert accuracy == pytest.approx(np.mean([e["correct"] for e in examples]))
    ci = results["intervals"]["test"]["accuracy"]
    assert ci["low"] < accuracy < ci["high"]
    assert ci["high"] - ci["low"] > 0.1  # a few dozen demo clips cannot pin an accuracy down to +-5 points
    card_row = f"| test | accuracy | {accuracy:.4f} | {ci['low']:.4f} to {ci['high']:.4f} |"
    assert card_row in (output_dir / "README.md").read_text()
