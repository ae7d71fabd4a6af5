"""Make the demo corpus: real speech synthesised by espeak-ng, in the `audiofolder` layout.

    DIR/{train,validation,test}/metadata.csv
    DIR/{train,validation,test}/{sentences,keywords}/*.flac

Columns of metadata.csv: file_name, kind ("sentence" or "keyword"), text, keyword (empty for
sentences) and speaker (the espeak-ng voice). Each split has its own voices, so speaker
identification and ASR are scored on unseen speakers; validation and test also draw their
sentences from a pool that train never speaks. About a quarter of the sentence utterances are
10-20 s long so that cropping to 1-4 s matters; keyword clips are exactly 1.0 s, like Speech
Commands. The large preset adds Speech Commands' two other classes: `_unknown_` (other words) and
`_silence_` (noise, with no text).

Presets: `small` is the corpus shipped in hf_seqlen/demo_corpus/; `large` gives a study the
statistical power to see a difference; `tiny` is for tests.

Why FLAC and not Ogg Vorbis, which is half the size: crops are read with
`SoundFile.seek(frame)` + `read(n)`, and libsndfile's Vorbis seeking is not sample-exact (about
5% of random seeks returned wrong samples with libsndfile 1.2.2). FLAC seeks exactly. To keep it
compact, samples are rounded to 10-bit steps (47 dB SNR, far above what espeak-ng's voices
need); FLAC stores the unused low bits of each 16-bit sample for free.

Every choice comes from fixed seeds and fixed voice settings, and every utterance is
synthesised in a fresh process, so a rerun on the same machine writes byte-identical files.

    hf-seqlen demo-corpus --size large --output_dir DIR

espeak-ng's library and voices come from espeakng-loader, a dependency: pip alone, no root.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import dataclasses
import itertools
import multiprocessing
import os
import random
import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ..option_parsing import UsageError
from . import espeak

SAMPLE_RATE = 16_000
SEED = 1234
GENERATOR_VERSION = 1  # bump when a change makes different files, so cached corpora are remade
PEAK = 0.89  # -1 dBFS, so rounding never clips
RESOLUTION_BITS = 10
SPLITS = ("train", "validation", "test")

SHORT_RANGE_S = (2.0, 8.0)
LONG_RANGE_S = (10.0, 20.0)
LONG_TARGET_S = (10.5, 12.5)  # a long utterance grows until it passes a target drawn here
KEYWORD_CLIP_S = 1.0
UNKNOWN_LABEL, SILENCE_LABEL = "_unknown_", "_silence_"
SILENCE_PEAK = (0.05, 0.5)


@dataclasses.dataclass(frozen=True)
class Voice:
    name: str  # espeak-ng voice+variant; also the speaker label
    pitch: int  # espeak-ng -p, 0-99
    speed: int  # espeak-ng -s, words per minute


@dataclasses.dataclass(frozen=True)
class Preset:
    voices: dict[str, list[Voice]]  # per split
    short_per_voice: int  # 2-8 s sentences
    long_per_voice: int  # 10-20 s utterances of joined sentences
    keyword_renditions: int  # clips of each keyword per voice
    unknown_per_voice: int = 0  # clips of other words, labelled _unknown_
    silence_per_voice: int = 0  # noise clips, labelled _silence_


KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]

# Plain English with no digits or abbreviations, so that what espeak-ng says is
# exactly the normalised transcript.
TRAIN_SENTENCES = [
    "The kettle began to whistle just as the guests arrived at the door.",
    "A small boat drifted slowly across the calm grey water of the harbour.",
    "She folded the letter twice and slipped it into her coat pocket.",
    "The old library smells of dust, leather and polished wood.",
    "Rain tapped gently against the window all through the long afternoon.",
    "He planted tomatoes, beans and a row of bright yellow sunflowers.",
    "The train to the coast leaves from the far platform every hour.",
    "Our neighbour's dog barks whenever the postman walks past the gate.",
    "The children built a tall tower out of wooden blocks.",
    "A cold wind swept down from the hills and rattled the shutters.",
    "The bakery on the corner sells fresh bread early every morning.",
    "Please close the window before you leave the room.",
    "The museum keeps a collection of ancient coins and painted pottery.",
    "My sister learned to play the violin when she was very young.",
    "The bridge was closed for repairs during most of the summer.",
    "A flock of geese flew south in a long and wavering line.",
    "He couldn't find his keys, so he waited outside in the rain.",
    "The soup needs a little more salt and a handful of fresh herbs.",
    "Bright lanterns hung from the trees along the edge of the square.",
    "The river rose quickly after three days of heavy rain.",
    "She painted the kitchen walls a soft shade of green.",
    "The market was crowded with people buying fruit and flowers.",
    "A quiet path winds through the forest to a hidden lake.",
    "The clock in the hall struck midnight as the storm grew louder.",
    "They spent the whole weekend repairing the roof of the barn.",
    "The teacher wrote a long list of new words on the board.",
    "Fresh snow covered the fields and muffled every sound.",
    "He poured two cups of tea and sat down by the fire.",
    "The lighthouse beam swept across the dark and restless sea.",
    "We watched the sun go down behind the distant mountains.",
    "The cat curled up on the warm stones beside the oven.",
    "Her grandfather told stories about sailing around the world.",
    "The road climbs steeply before it reaches the little village.",
    "A gentle breeze carried the scent of pine through the valley.",
    "The orchestra tuned their instruments while the audience took their seats.",
    "He keeps his tools in a neat wooden box under the stairs.",
    "The shop closes early on Sundays and stays shut on holidays.",
    "Thick fog rolled in from the sea and hid the cliffs.",
    "She carefully measured the flour, the sugar and the butter.",
    "The farmer drove his tractor slowly along the muddy lane.",
    "Tall grass swayed in the wind at the edge of the meadow.",
    "The company opened a new office near the central station.",
    "A young fox crept out of the bushes and sniffed the air.",
    "We'll meet at the cafe after the lecture has finished.",
    "The candles flickered and cast long shadows on the ceiling.",
    "He reads the newspaper every morning while eating his breakfast.",
    "The garden wall is covered in ivy and tiny white flowers.",
    "They hiked for hours before they reached the top of the ridge.",
    "The waves crashed against the rocks and sprayed cold water everywhere.",
    "Her bicycle has a basket on the front and a bell on the handlebar.",
    "The festival attracts musicians and dancers from many different countries.",
    "A thin layer of ice formed on the pond overnight.",
    "The doctor asked him to rest for a week and drink plenty of water.",
    "The map showed a narrow trail leading down to the beach.",
    "Bees moved busily from one flower to the next.",
    "The ship's captain studied the sky and ordered the sails lowered.",
    "It's too late to catch the last bus into town.",
    "The walls of the castle are thick enough to stop a cannon ball.",
    "She hummed a quiet tune while she washed the dishes.",
    "The price of apples went up after the poor harvest.",
    "The owl sat motionless on a branch high above the path.",
    "Our team practised every evening for the final match of the season.",
    "He wrapped the gift in brown paper and tied it with string.",
    "The streets were empty except for a man walking his dog.",
    "Smoke curled from the chimney of the cottage on the hill.",
    "A loud knock at the door woke everyone in the house.",
]

# Spoken only by the validation and test voices.
HELD_OUT_SENTENCES = [
    "The gardener trimmed the hedges into neat round shapes.",
    "A heavy mist hung over the river until late in the morning.",
    "She borrowed three books about birds from the village library.",
    "The workers painted white lines on the new road.",
    "He whistled a cheerful song as he walked to the station.",
    "The baby laughed when the puppy licked her tiny hand.",
    "Dark clouds gathered over the harbour and the fishing boats hurried home.",
    "The chef sliced the onions thinly and fried them in butter.",
    "They found an old photograph hidden inside the wooden chest.",
    "The wind turned the pages of the book left open on the bench.",
    "A narrow staircase leads up to the room under the roof.",
    "The horses galloped across the field towards the open gate.",
    "We didn't expect the concert to be so crowded.",
    "The students listened carefully as the professor explained the experiment.",
    "Golden leaves covered the path through the park in autumn.",
    "The tailor measured his arms and shoulders for a new jacket.",
    "A small plane circled the airfield before coming in to land.",
    "She keeps a jar of honey on the shelf above the stove.",
    "The fisherman mended his nets on the quiet beach at dawn.",
    "Children ran along the sand chasing the foam of the waves.",
    "The stone cottage has a red door and a garden full of roses.",
    "He carried the heavy boxes up the stairs one at a time.",
    "The moon rose slowly over the silent rooftops of the town.",
    "A strong smell of coffee drifted out of the open kitchen window.",
]


# Words that are not keywords, as Speech Commands has them: its `_unknown_` class.
UNKNOWN_WORDS = [
    "bed",
    "bird",
    "cat",
    "dog",
    "happy",
    "house",
    "marvin",
    "sheila",
    "tree",
    "wow",
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
]

# Accents and variants differ between every pair, so no two splits share a voice.
SMALL_VOICES = {
    "train": [
        Voice("en-us+m3", 45, 165),
        Voice("en-gb+f2", 60, 160),
        Voice("en-gb-scotland+m1", 40, 155),
        Voice("en-029+f4", 65, 170),
        Voice("en-gb-x-rp+m5", 50, 150),
        Voice("en-us-nyc+f1", 55, 175),
        Voice("en-gb-x-gbclan+m7", 35, 160),
    ],
    "validation": [
        Voice("en-gb-x-gbcwmd+f3", 62, 165),
        Voice("en-us+m2", 42, 158),
    ],
    "test": [
        Voice("en-gb+m4", 48, 168),
        Voice("en-029+f5", 58, 152),
    ],
}

ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd"]
VARIANTS = [f"m{i}" for i in range(1, 8)] + [f"f{i}" for i in range(1, 6)]
LARGE_VOICES_PER_SPLIT = {"train": 64, "validation": 8, "test": 24}


def every_accent_and_variant(per_split):
    """Each accent+variant once, with its own pitch and speed, dealt at random to the splits."""
    rng = random.Random(f"{SEED}-voices")
    names = [f"{accent}+{variant}" for accent, variant in itertools.product(ACCENTS, VARIANTS)]
    voices = [Voice(name, rng.randint(30, 70), rng.randint(145, 185)) for name in rng.sample(names, len(names))]
    if sum(per_split.values()) > len(voices):
        raise ValueError(f"{sum(per_split.values())} voices asked for, {len(voices)} exist")
    dealt, start = {}, 0
    for split in SPLITS:
        dealt[split] = voices[start : start + per_split[split]]
        start += per_split[split]
    return dealt


PRESETS = {
    "tiny": Preset(
        {split: voices[:1] for split, voices in SMALL_VOICES.items()},
        short_per_voice=2,
        long_per_voice=0,
        keyword_renditions=1,
        unknown_per_voice=1,
        silence_per_voice=1,
    ),
    "small": Preset(SMALL_VOICES, short_per_voice=8, long_per_voice=3, keyword_renditions=2),
    "large": Preset(
        every_accent_and_variant(LARGE_VOICES_PER_SPLIT),
        short_per_voice=8,
        long_per_voice=3,
        keyword_renditions=2,
        unknown_per_voice=2,
        silence_per_voice=2,
    ),
}


def normalise(text):
    """Lowercase letters, apostrophes and single spaces only: a small CTC vocabulary."""
    text = re.sub(r"[^a-z' ]", " ", text.lower())
    return " ".join(text.split())


def synthesise(voice, text):
    """Speak `text`; return float32 mono audio at 16 kHz, trimmed and peak-normalised."""
    samples, rate = espeak.synthesise(voice.name, voice.speed, voice.pitch, text)
    audio = samples.astype(np.float32) / 32768  # as soundfile reads 16-bit PCM
    audio = trim_silence(soxr.resample(audio, rate, SAMPLE_RATE))
    return audio * (PEAK / np.abs(audio).max())


def trim_silence(audio, margin_s=0.1, threshold=0.01):
    """Cut espeak-ng's leading and trailing silence, keeping a short margin."""
    loud = np.flatnonzero(np.abs(audio) > threshold * np.abs(audio).max())
    margin = int(margin_s * SAMPLE_RATE)
    return audio[max(loud[0] - margin, 0) : loud[-1] + margin + 1]


def duration(audio):
    return len(audio) / SAMPLE_RATE


def short_utterances(voice, pool, rng, count):
    """One sentence each, skipping any that this voice speaks outside 2-8 s."""
    utterances = []
    for sentence in rng.sample(pool, len(pool)):
        if len(utterances) == count:
            break
        audio = synthesise(voice, sentence)
        if SHORT_RANGE_S[0] <= duration(audio) <= SHORT_RANGE_S[1]:
            utterances.append((sentence, audio))
    if len(utterances) < count:
        raise RuntimeError(f"{voice.name}: fewer than {count} sentences last {SHORT_RANGE_S} s")
    return utterances


def long_utterance(voice, pool, rng):
    """Join random sentences until the speech passes a random 10.5-12.5 s target."""
    target = rng.uniform(*LONG_TARGET_S)
    chosen = []
    for sentence in rng.sample(pool, len(pool)):
        audio = synthesise(voice, " ".join(chosen + [sentence]))
        if duration(audio) > LONG_RANGE_S[1]:
            continue  # this sentence overshoots; a shorter one may still fit
        chosen.append(sentence)
        if duration(audio) >= target:
            return " ".join(chosen), audio
    raise RuntimeError(f"{voice.name}: could not reach {target:.1f} s")


def keyword_clip(voice, word, rng):
    """The word at a slightly varied speed and pitch, centred in exactly 1.0 s."""
    varied = dataclasses.replace(
        voice, speed=voice.speed + rng.randint(-20, 20), pitch=min(max(voice.pitch + rng.randint(-8, 8), 0), 99)
    )
    audio = synthesise(varied, word)
    length = int(KEYWORD_CLIP_S * SAMPLE_RATE)
    if len(audio) > length:
        raise RuntimeError(f"{voice.name} says {word!r} in {duration(audio):.2f} s, over {KEYWORD_CLIP_S} s")
    left = (length - len(audio)) // 2
    return np.pad(audio, (left, length - len(audio) - left))


def silence_clip(rng):
    """1.0 s of white or brown (integrated) noise at a random level: no speech at all."""
    noise = np.random.default_rng(rng.getrandbits(64)).standard_normal(int(KEYWORD_CLIP_S * SAMPLE_RATE))
    if rng.random() < 0.5:
        noise = np.cumsum(noise)
        noise -= np.linspace(noise[0], noise[-1], len(noise))  # no drift to the ends
    return (noise * (rng.uniform(*SILENCE_PEAK) / np.abs(noise).max())).astype(np.float32)


def write_flac(path, audio):
    """16-bit FLAC whose low bits are zero, which FLAC codes as 'wasted bits'."""
    steps = np.round(audio * 2 ** (RESOLUTION_BITS - 1)).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, steps << (16 - RESOLUTION_BITS), SAMPLE_RATE, format="FLAC", subtype="PCM_16")


def voice_clips(voice, preset, pool):
    """(file name, audio, metadata) of every clip one voice speaks, in a fixed order."""
    rng = random.Random(f"{SEED}-{voice.name}")
    stem = voice.name.replace("+", "_")
    row = dict(kind="sentence", keyword="", speaker=voice.name)
    sentences = short_utterances(voice, pool, rng, preset.short_per_voice)
    sentences += [long_utterance(voice, pool, rng) for _ in range(preset.long_per_voice)]
    for i, (text, audio) in enumerate(sentences):
        yield f"sentences/{stem}_{i:03d}.flac", audio, dict(row, text=normalise(text))
    row["kind"] = "keyword"
    for word in KEYWORDS:
        for take in range(preset.keyword_renditions):
            yield (
                f"keywords/{stem}_{word}_{take}.flac",
                keyword_clip(voice, word, rng),
                dict(row, text=word, keyword=word),
            )
    for take, word in enumerate(rng.sample(UNKNOWN_WORDS, preset.unknown_per_voice)):
        clip = keyword_clip(voice, word, rng)
        yield f"keywords/{stem}_unknown_{take}.flac", clip, dict(row, text=word, keyword=UNKNOWN_LABEL)
    for take in range(preset.silence_per_voice):
        yield f"keywords/{stem}_silence_{take}.flac", silence_clip(rng), dict(row, text="", keyword=SILENCE_LABEL)


def write_voice(split_dir, voice, preset, pool):
    """Write every clip one voice speaks; return their metadata rows in order."""
    rows = []
    for file_name, audio, row in voice_clips(voice, preset, pool):
        write_flac(split_dir / file_name, audio)
        rows.append(dict(file_name=file_name, **row))
    return rows


def build_split(split_dir, voices, preset, pool, log=print, workers=1):
    """Write every clip and the metadata.csv of one split; return its rows.

    Voices are independent (each has its own seeds), so they are spoken in parallel by `workers`
    processes and the result does not depend on how many there are.
    """
    context = multiprocessing.get_context("fork")  # the espeak-ng library is loaded once, before forking
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as executor:
        per_voice = executor.map(
            write_voice, itertools.repeat(split_dir), voices, itertools.repeat(preset), itertools.repeat(pool)
        )
        rows = []
        for index, (voice, voice_rows) in enumerate(zip(voices, per_voice)):
            rows += voice_rows
            log(f"  {split_dir.name}: {voice.name} done ({index + 1}/{len(voices)})")
    with open(split_dir / "metadata.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["file_name", "kind", "text", "keyword", "speaker"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def make_corpus(output_dir, size="large", overwrite=False, log=print, workers=None):
    """Synthesise the preset `size` into `output_dir`; return {split: metadata rows}."""
    output_dir = Path(output_dir)
    if size not in PRESETS:
        raise UsageError(f"--size {size}: no such preset; choose one of {', '.join(PRESETS)}")
    if output_dir.is_file():
        raise UsageError(f"--output_dir {output_dir} is a file; name a new or empty folder")
    if output_dir.exists() and any(output_dir.iterdir()):
        if not overwrite:
            raise UsageError(f"--output_dir {output_dir} is not empty; pass --overwrite to rebuild the corpus there")
        # only ever delete a folder that holds nothing but a corpus
        if not {p.name for p in output_dir.iterdir()} <= set(SPLITS):
            raise UsageError(f"--output_dir {output_dir} holds more than train/validation/test; not deleting it")
        shutil.rmtree(output_dir)
    preset = PRESETS[size]
    espeak.version()  # load the library (or fail in one line) before any worker starts
    workers = workers or os.cpu_count() or 1
    rows_by_split = {}
    for split in SPLITS:
        pool = TRAIN_SENTENCES if split == "train" else HELD_OUT_SENTENCES
        rows_by_split[split] = build_split(output_dir / split, preset.voices[split], preset, pool, log, workers)
    return rows_by_split


def cache_root():
    """Where made corpora are kept between runs: $HF_SEQLEN_CACHE, else the user's cache folder."""
    explicit = os.environ.get("HF_SEQLEN_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hf_seqlen"


def cached_corpus_folder(size):
    return cache_root() / f"demo_corpus_{size}_v{GENERATOR_VERSION}"


def cached_corpus(size="large", log=print):
    """The preset `size`, made on first use into the cache; later calls return it at once.

    It is made in a temporary sibling and renamed, so a run that is stopped halfway leaves no
    corpus that looks finished, and two runs making it at once both end with one whole corpus.
    """
    folder = cached_corpus_folder(size)
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    log(f"making the {size} demo corpus into {folder} (once; a few minutes on two cores)")
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        make_corpus(partial, size, log=lambda _: None)
        partial.chmod(0o755)  # mkdtemp's folder is private; a cache is for everyone who can read it
        try:
            partial.rename(folder)
        except OSError:
            if not folder.is_dir():  # not a concurrent maker's win: a real failure
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def summary(output_dir, rows_by_split):
    """Clips, minutes and duration range per split and kind, keyword clips per class, size on disk."""
    output_dir = Path(output_dir)
    lines, total_s = [], 0.0
    for split, rows in rows_by_split.items():
        for kind in ("sentence", "keyword"):
            durations = [sf.info(output_dir / split / r["file_name"]).duration for r in rows if r["kind"] == kind]
            total_s += sum(durations)
            lines.append(
                f"{split:>10} {kind:>8}: {len(durations):4d} clips, {sum(durations) / 60:6.1f} min, "
                f"{min(durations):5.2f}-{max(durations):5.2f} s, "
                f"{len({r['speaker'] for r in rows})} voices"
            )
        classes = sorted({r["keyword"] for r in rows if r["kind"] == "keyword"})
        counts = [sum(r["keyword"] == c for r in rows) for c in classes]
        lines.append(f"{'':>19} per class: " + ", ".join(f"{c} {n}" for c, n in zip(classes, counts)))
    size_mb = sum(p.stat().st_size for p in output_dir.rglob("*") if p.is_file()) / 1e6
    files = sum(1 for _ in output_dir.rglob("*.flac"))
    lines.append(f"total: {files} files, {total_s / 3600:.2f} h of audio, {size_mb:.1f} MB in {output_dir}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="hf-seqlen demo-corpus", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size",
        choices=sorted(PRESETS),
        default="large",
        help="small: the corpus shipped in the package; large: enough test clips to tell "
        "upstreams apart; tiny: for tests",
    )
    parser.add_argument("--output_dir", type=Path, required=True)
    parser.add_argument("--overwrite", action="store_true", help="replace a corpus already in --output_dir")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="voices spoken at once (default: one per CPU core); the files do not depend on it",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    print(f"espeak-ng {espeak.version()}: {args.size} corpus into {args.output_dir}")
    rows_by_split = make_corpus(args.output_dir, args.size, args.overwrite, workers=args.workers)
    print(summary(args.output_dir, rows_by_split))
    print(f"made in {time.perf_counter() - start:.0f} s")
