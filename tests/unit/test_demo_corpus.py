"""The shipped demo corpus loads as an audiofolder and has the promised shape.

Audio is never decoded through `datasets` (it needs torchcodec, which is not a
dependency); files are read with soundfile.
"""

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from datasets import Audio, Value, load_dataset

CORPUS = Path(__file__).resolve().parents[2] / "hf_seqlen" / "demo_corpus"
SPLITS = ["train", "validation", "test"]
COLUMNS = ["audio", "kind", "text", "keyword", "speaker"]


@pytest.fixture(scope="module")
def corpus():
    """Rows of each split, read by the real audiofolder loader.

    Streaming and casting `audio` to a plain path string keep `datasets` from
    encoding the Audio feature, which since datasets 4 imports torchcodec.
    """
    streams = load_dataset("audiofolder", data_dir=str(CORPUS), streaming=True)
    assert sorted(streams) == sorted(SPLITS)
    return {split: list(streams[split].cast_column("audio", Value("string"))) for split in SPLITS}


def test_columns_and_types():
    streams = load_dataset("audiofolder", data_dir=str(CORPUS), streaming=True)
    for split in SPLITS:
        features = streams[split].features
        assert list(features) == COLUMNS
        assert isinstance(features["audio"], Audio)
        assert all(features[c].dtype in ("string", "large_string") for c in COLUMNS[1:])


def test_rows(corpus):
    for rows in corpus.values():
        assert {r["kind"] for r in rows} == {"sentence", "keyword"}
        for r in rows:
            assert Path(r["audio"]).is_file()
            assert re.fullmatch(r"[a-z']+( [a-z']+)*", r["text"])
            # an empty keyword cell must load as None, not as a string or an error
            assert r["keyword"] == (r["text"] if r["kind"] == "keyword" else None)


def test_voices_are_held_out(corpus):
    speakers = {split: {r["speaker"] for r in rows} for split, rows in corpus.items()}
    assert len(speakers["train"]) >= 5 and speakers["validation"] and speakers["test"]
    assert not speakers["train"] & speakers["validation"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["validation"] & speakers["test"]


def test_durations(corpus):
    for rows in corpus.values():
        infos = {r["audio"]: sf.info(r["audio"]) for r in rows}
        assert all(i.samplerate == 16_000 and i.channels == 1 for i in infos.values())
        sentences = [infos[r["audio"]].duration for r in rows if r["kind"] == "sentence"]
        assert min(sentences) >= 2.0 and max(sentences) <= 20.0
        assert sum(d >= 10.0 for d in sentences) >= 0.2 * len(sentences)
        assert {infos[r["audio"]].frames for r in rows if r["kind"] == "keyword"} == {16_000}


def test_seek_reads_exact_samples(corpus):
    rng = np.random.default_rng(0)
    for row in corpus["train"][::20]:
        full, _ = sf.read(row["audio"], dtype="float32")
        with sf.SoundFile(row["audio"]) as f:
            for _ in range(5):
                length = int(rng.integers(1, len(full)))
                start = int(rng.integers(0, len(full) - length + 1))
                f.seek(start)
                np.testing.assert_array_equal(f.read(length, dtype="float32"), full[start : start + length])


def test_size():
    assert sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file()) <= 10_000_000


def test_package_loader_reads_the_same_rows_as_audiofolder(corpus):
    from hf_seqlen.corpus.sources import load_audio_folder

    for split, rows in corpus.items():
        dataset = load_audio_folder(CORPUS, split)
        assert isinstance(dataset.features["audio"], Audio) and not dataset.features["audio"].decode
        assert [Path(a["path"]) for a in dataset["audio"]] == [Path(r["audio"]) for r in rows]
        assert dataset["speaker"] == [r["speaker"] for r in rows]
