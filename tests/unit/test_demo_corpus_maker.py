"""`hf-seqlen demo-corpus` makes a corpus with pip-installed espeak-ng, the same bytes every time,
in the layout the loaders read."""

import sys

import numpy as np

from helpers import tree_bytes
from hf_seqlen.cli import main
from hf_seqlen.corpus import espeak
from hf_seqlen.corpus.demo_maker import (
    KEYWORDS,
    PRESETS,
    SMALL_VOICES,
    SPLITS,
    TRAIN_SENTENCES,
    Preset,
    build_split,
)


def test_voices_spoken_in_parallel_give_the_same_files_in_the_same_order(tmp_path):
    voices = SMALL_VOICES["train"][:3]
    preset = Preset({"train": voices}, short_per_voice=1, long_per_voice=0, keyword_renditions=0, silence_per_voice=1)
    alone = build_split(tmp_path / "alone", voices, preset, TRAIN_SENTENCES, log=lambda _: None, workers=1)
    parallel = build_split(tmp_path / "parallel", voices, preset, TRAIN_SENTENCES, log=lambda _: None, workers=3)
    assert [row["speaker"] for row in parallel] == [voice.name for voice in voices for _ in range(2)]
    assert parallel == alone
    assert tree_bytes(tmp_path / "parallel") == tree_bytes(tmp_path / "alone")


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
