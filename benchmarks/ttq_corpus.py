"""The time-to-quality corpus, made with the demo corpus's generator (espeak-ng voices): long utterances of voices
of their own for pre-training (10.5 to 16 s, LibriSpeech's shape, or cut shorter where a profile says), and keyword
clips of other voices for the probe, with training, validation and test voices of their own, so the probe never
hears a voice pre-training heard."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import soundfile as sf

from hf_seqlen.corpus.demo_maker import TRAIN_SENTENCES, Preset, build_split, every_accent_and_variant

from .common import spread
from .profiles import Profile


def make_corpus(profile: Profile, root: Path) -> Path:
    """Pre-training utterances in FOLDER/pretrain, keyword clips in FOLDER/kws/{train,validation,test}; every part
    spoken by voices of its own. Made once per shape, in a temporary sibling renamed when whole."""
    pretraining, *keyword_voices = profile.ttq_voices
    folder = root / (
        f"corpus-{pretraining}x{profile.ttq_long_per_voice}-"
        + "-".join(map(str, keyword_voices))
        + f"x{profile.ttq_keyword_renditions}"
        + ("-cut{:g}-{:g}".format(*profile.ttq_long_seconds) if profile.ttq_long_seconds else "")
    )
    if folder.is_dir():
        return folder
    voices = every_accent_and_variant(
        {"train": pretraining + keyword_voices[0], "validation": keyword_voices[1], "test": keyword_voices[2]}
    )
    long_only = Preset({}, short_per_voice=0, long_per_voice=profile.ttq_long_per_voice, keyword_renditions=0)
    renditions = profile.ttq_keyword_renditions
    keywords = Preset(
        {},
        short_per_voice=0,
        long_per_voice=0,
        keyword_renditions=renditions,
        unknown_per_voice=renditions,
        silence_per_voice=renditions,
    )
    parts = {
        "pretrain": (voices["train"][:pretraining], long_only, TRAIN_SENTENCES),
        "kws/train": (voices["train"][pretraining:], keywords, []),
        "kws/validation": (voices["validation"], keywords, []),
        "kws/test": (voices["test"], keywords, []),
    }
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for part, (speakers, preset, pool) in parts.items():
        build_split(partial / part, speakers, preset, pool, log=lambda _: None, workers=os.cpu_count() or 1)
    if profile.ttq_long_seconds:
        cut_utterances(partial / "pretrain", profile.ttq_long_seconds)
    partial.rename(folder)
    return folder


def describe_corpus(folder: Path) -> dict:
    lengths = [sf.info(p).duration for p in sorted((folder / "pretrain").rglob("*.flac"))]
    clips = {
        split: sum(1 for _ in (folder / "kws" / split).rglob("*.flac")) for split in ("train", "validation", "test")
    }
    return {
        "pretraining_files": len(lengths),
        "pretraining_hours": sum(lengths) / 3600,
        "pretraining_seconds": {k: v for k, v in spread(lengths).items() if k != "values"},
        "kws_clips": clips,
    }


def cut_utterances(folder: Path, seconds: tuple[float, float]) -> None:
    """Keep the start of every utterance, its length drawn from `seconds` (seeded by its file name). A cut may end
    mid-word: pre-training reads no transcript."""
    for path in sorted(folder.rglob("*.flac")):
        audio, rate = sf.read(path, dtype="int16")
        keep = int(random.Random(path.name).uniform(*seconds) * rate)
        sf.write(path, audio[:keep], rate, format="FLAC", subtype="PCM_16")
