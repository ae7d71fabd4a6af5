"""`hf-seqlen demo-corpus` makes a corpus with pip-installed espeak-ng, the same bytes every time,
in the layout the loaders read."""

import pytest
import soundfile as sf

from helpers import tree_bytes
from hf_seqlen.cli import main
from hf_seqlen.corpus.demo_maker import (
    KEYWORDS,
    PRESETS,
    SILENCE_LABEL,
    SPLITS,
    UNKNOWN_LABEL,
    cached_corpus,
)
from hf_seqlen.corpus.sources import load_audio_folder
from hf_seqlen.downstream.args import parse_args
from hf_seqlen.downstream.data import load_task_splits


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny") / "corpus"
    assert main(["demo-corpus", "--size", "tiny", "--output_dir", str(folder)]) == 0
    return folder


def test_a_rebuild_writes_the_same_bytes(tiny, tmp_path):
    again = tmp_path / "again"
    assert main(["demo-corpus", "--size", "tiny", "--output_dir", str(again)]) == 0
    first, second = tree_bytes(tiny), tree_bytes(again)
    assert sorted(first) == sorted(second) and len(first) > 40
    assert [name for name in first if first[name] != second[name]] == []


def test_the_cached_corpus_is_made_once_and_never_left_half_made(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_SEQLEN_CACHE", str(tmp_path))
    folder = cached_corpus("tiny", log=lambda _: None)
    assert folder.parent == tmp_path and (folder / "test" / "metadata.csv").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no partial folder left beside it
    (folder / "marker").write_text("kept")
    assert cached_corpus("tiny", log=lambda _: None) == folder and (folder / "marker").is_file()


def test_the_package_loader_reads_every_split(tiny):
    rows = {split: load_audio_folder(tiny, split) for split in SPLITS}
    for split, dataset in rows.items():
        assert dataset.column_names == ["kind", "text", "keyword", "speaker", "audio"]
        keyword_rows = [r for r in dataset if r["kind"] == "keyword"]
        labels = {r["keyword"] for r in keyword_rows}
        assert labels == set(KEYWORDS) | {UNKNOWN_LABEL, SILENCE_LABEL}
        for r in keyword_rows:
            assert sf.info(r["audio"]["path"]).frames == 16_000
            # silence has no words; an unknown clip's text is the word spoken
            assert (r["text"] is None) == (r["keyword"] == SILENCE_LABEL)
            assert r["keyword"] in (UNKNOWN_LABEL, SILENCE_LABEL) or r["text"] == r["keyword"]
        sentences = [r for r in dataset if r["kind"] == "sentence"]
        assert len(sentences) == PRESETS["tiny"].short_per_voice * len(PRESETS["tiny"].voices[split])
        assert all(2.0 <= sf.info(r["audio"]["path"]).duration <= 8.0 for r in sentences)
    speakers = {split: set(dataset["speaker"]) for split, dataset in rows.items()}
    assert not speakers["train"] & (speakers["validation"] | speakers["test"])
    assert not speakers["validation"] & speakers["test"]


@pytest.mark.parametrize("task, kind", [("kws", "keyword"), ("asr", "sentence")])
def test_each_task_takes_its_own_kind_of_clip_from_a_made_corpus(tiny, task, kind):
    """--data_dir at a made corpus works as the shipped one: keyword spotting gets the keyword clips only,
    ASR the sentences (speaker identification too, from folds of the training voices' sentences, which
    the tiny corpus has too few of)."""
    args, _ = parse_args(
        ["--task", task, "--data_dir", str(tiny), "--model_name_or_path", "unused", "--output_dir", "unused"]
    )
    splits = load_task_splits(args)
    assert splits and all(set(dataset["kind"]) == {kind} for dataset in splits.values())
