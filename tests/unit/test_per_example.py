"""Per-example outcomes of downstream runs: scored against the original targets, stored beside results.json."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from datasets import ClassLabel, Dataset
from transformers import EvalPrediction, Wav2Vec2FeatureExtractor

from hf_seqlen import metrics
from hf_seqlen.corpus.sources import DEMO_CORPUS
from hf_seqlen.downstream import ctc
from hf_seqlen.downstream.args import DownstreamArguments
from hf_seqlen.downstream.data import example_clusters, load_task_splits
from hf_seqlen.downstream.results import example_ids, with_clusters


@pytest.fixture
def processor(tmp_path):
    train = Dataset.from_dict({"text": ["Hello world", "a road"]})  # no "ö" anywhere in training
    return ctc.build_processor(train, "text", Wav2Vec2FeatureExtractor(), tmp_path)


def ctc_path(processor, text: str) -> np.ndarray:
    """Greedy frame ids that decode to `text`: each token followed by a blank, so repeats are not merged."""
    tokenizer = processor.tokenizer
    ids = tokenizer(text).input_ids
    return np.array([[i for token in ids for i in (token, tokenizer.pad_token_id)]])


def test_asr_is_scored_against_the_original_transcript_not_one_with_unk(processor):
    reference = "hello wörld"
    labels = np.array([processor.tokenizer(reference).input_ids])
    # The model emits [UNK] where the unseen character is: read back from the label ids, the reference
    # would say the same, and the transcript would score as perfect.
    predicted = ctc_path(processor, "hello w" + "ö" + "rld")
    assert "[UNK]" in processor.tokenizer.batch_decode(predicted)[0]
    scores = ctc.metrics_computer(processor, [reference])(EvalPrediction(predictions=predicted, label_ids=labels))
    assert scores["wer"] == pytest.approx(1 / 2)
    assert scores["cer"] == pytest.approx(5 / 11)  # ö -> "[UNK]": one substitution, four insertions


def test_asr_outcomes_add_up_to_the_corpus_error_rates(processor):
    references = ["hello world", "a road", "hello"]
    hypotheses = ["hello word", "a road road", ""]
    predicted = np.concatenate(
        [
            np.pad(p, ((0, 0), (0, 40 - p.shape[1])), constant_values=-100)
            for p in (ctc_path(processor, h) for h in hypotheses)
        ]
    )
    examples = ctc.outcomes(processor, predicted, references, ["u0", "u1", "u2"])
    assert [e["prediction"] for e in examples] == hypotheses
    words = sum(e["words"] for e in examples)
    assert sum(e["word_edits"] for e in examples) / words == pytest.approx(
        metrics.load("wer").compute(predictions=hypotheses, references=references)["wer"]
    )
    assert sum(e["char_edits"] for e in examples) / sum(e["chars"] for e in examples) == pytest.approx(
        metrics.load("cer").compute(predictions=hypotheses, references=references)["cer"]
    )


def test_frames_past_an_utterances_end_decode_as_nothing(processor):
    # In a batch of 8 the short utterance's padded frames still get logits; read as tokens, they would add "road".
    short = ctc_path(processor, "a")
    padded = np.concatenate([short, ctc_path(processor, "road")], axis=1)
    examples = ctc.outcomes(processor, padded, ["a"], ["u0"], frames=np.array([short.shape[1]]))
    assert examples[0]["prediction"] == "a" and examples[0]["char_edits"] == 0


def test_each_example_names_its_speaker_where_the_split_knows_it():
    # A speaker column (the demo corpus, an audio folder's metadata.csv), as names or as ClassLabel ids.
    voices = Dataset.from_dict({"speaker": ["en+m1", "en+f2"], "keyword": ["yes", "no"]})
    assert example_clusters(voices, "kws", "keyword") == ["en+m1", "en+f2"]
    numbered = Dataset.from_dict({"speaker_id": [0, 1]}).cast_column("speaker_id", ClassLabel(names=["ann", "bo"]))
    assert example_clusters(numbered, "asr", None) == ["ann", "bo"]
    # Speaker identification without a speaker column: the label is the speaker. Other tasks: unknown.
    labelled = Dataset.from_dict({"label": ["id10001", "id10002"]})
    assert example_clusters(labelled, "sid", "label") == ["id10001", "id10002"]
    assert example_clusters(labelled, "er", "label") is None


@pytest.mark.parametrize("task", ["kws", "sid"])
def test_the_demo_corpus_names_the_voice_of_every_test_clip(task):
    args = DownstreamArguments(task=task, model_name_or_path="unused")
    test = load_task_splits(args)["test"]
    with open(DEMO_CORPUS / ("test" if task == "kws" else "train") / "metadata.csv") as f:
        voices = {row["file_name"]: row["speaker"] for row in csv.DictReader(f)}
    ids = example_ids(test, args.audio_column_name)
    clusters = example_clusters(test, task, args.label_column_name)
    assert clusters == [voices[i.split("/demo_corpus/", 1)[1].split("/", 1)[1]] for i in ids]
    assert len(set(clusters)) > 1


def test_outcome_rows_carry_their_speaker_as_cluster_only_where_known():
    rows = [{"id": "a.wav", "correct": 1}, {"id": "b.wav", "correct": 0}]
    assert with_clusters(rows, ["v1", "v2"]) == [{**rows[0], "cluster": "v1"}, {**rows[1], "cluster": "v2"}]
    assert with_clusters(rows, None) == rows
