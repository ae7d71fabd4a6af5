"""`hf-seqlen demo-corpus` makes a corpus with pip-installed espeak-ng, the same bytes every time,
in the layout the loaders read."""

import sys

import numpy as np
import pytest
import soundfile as sf

from hf_seqlen.cli import main
from hf_seqlen.corpus import espeak
from hf_seqlen.corpus.demo_maker import (
    KEYWORDS,
    PRESETS,
    SILENCE_LABEL,
    SMALL_VOICES,
    SPLITS,
    TRAIN_SENTENCES,
    UNKNOWN_LABEL,
    Preset,
    build_split,
    cached_corpus,
)
from hf_seqlen.corpus.sources import load_audio_folder
from hf_seqlen.downstream.args import parse_args
from hf_seqlen.downstream.data import load_task_splits


def tree_bytes(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny") / "corpus"
    assert main(["demo-corpus", "--size", "tiny", "--output_dir", str(folder)]) == 0
    return folder


@pytest.mark.slow
def test_a_rebuild_writes_the_same_bytes(tiny, tmp_path):
    again = tmp_path / "again"
    assert main(["demo-corpus", "--size", "tiny", "--output_dir", str(again)]) == 0
    first, second = tree_bytes(tiny), tree_bytes(again)
    assert sorted(first) == sorted(second) and len(first) > 40
    assert [name for name in first if first[name] != second[name]] == []


def test_voices_spoken_in_parallel_give_the_same_files_in_the_same_order(tmp_path):
    voices = SMALL_VOICES["train"][:3]
    preset = Preset({"train": voices}, short_per_voice=1, long_per_voice=0, keyword_renditions=0, silence_per_voice=1)
    alone = build_split(tmp_path / "alone", voices, preset, TRAIN_SENTENCES, log=lambda _: None, workers=1)
    parallel = build_split(tmp_path / "parallel", voices, preset, TRAIN_SENTENCES, log=lambda _: None, workers=3)
    assert [row["speaker"] for row in parallel] == [voice.name for voice in voices for _ in range(2)]
    assert parallel == alone
    assert tree_bytes(tmp_path / "parallel") == tree_bytes(tmp_path / "alone")


@pytest.mark.slow
def test_the_cached_corpus_is_made_once_and_never_left_half_made(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_SEQLEN_CACHE", str(tmp_path))
    folder = cached_corpus("tiny", log=lambda _: None)
    assert folder.parent == tmp_path and (folder / "test" / "metadata.csv").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no partial folder left beside it
    (folder / "marker").write_text("kept")
    assert cached_corpus("tiny", log=lambda _: None) == folder and (folder / "marker").is_file()


@pytest.mark.slow
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


def test_an_utterance_does_not_depend_on_what_was_spoken_before():
    first, rate = espeak.synthesise("en-us+m3", 165, 45, "The kettle began to whistle.")
    espeak.synthesise("en-gb+f2", 120, 80, "Something else entirely, and longer.")
    again, _ = espeak.synthesise("en-us+m3", 165, 45, "The kettle began to whistle.")
    assert rate == 22_050 and len(first) > rate
    np.testing.assert_array_equal(first, again)


def test_the_large_preset_has_the_power_it_promises():
    large = PRESETS["large"]
    voices = {split: {v.name for v in large.voices[split]} for split in SPLITS}
    assert not voices["train"] & (voices["validation"] | voices["test"]) and not voices["validation"] & voices["test"]
    clips_per_voice = len(KEYWORDS) * large.keyword_renditions + large.unknown_per_voice + large.silence_per_voice
    assert len(voices["test"]) * clips_per_voice >= 400
    sentences_per_voice = large.short_per_voice + large.long_per_voice
    assert len(voices["train"]) * sentences_per_voice >= 400 and len(voices["test"]) * sentences_per_voice >= 100
    settings = {(v.pitch, v.speed) for split in SPLITS for v in large.voices[split]}
    assert len(settings) > 0.9 * sum(len(v) for v in voices.values())


def test_an_existing_folder_is_kept_unless_asked(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["demo-corpus", "--size", "tiny", "--output_dir", str(tmp_path)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["demo-corpus", "--size", "tiny", "--output_dir", str(tmp_path), "--overwrite"]) == 2
    assert "not deleting it" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_without_espeakng_loader_the_message_says_what_to_install(tmp_path, capsys, monkeypatch):
    # The package is installed here; a None entry in sys.modules makes its import fail as if it were not.
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)
    espeak._library.cache_clear()
    try:
        assert main(["demo-corpus", "--size", "tiny", "--output_dir", str(tmp_path / "c")]) == 2
    finally:
        espeak._library.cache_clear()
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "pip install espeakng-loader" in error


@pytest.mark.slow
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
