#!/usr/bin/env python
"""Build the small real-speech demo corpus shipped in `hf_seqlen/demo_corpus/`.

Speech is synthesised with espeak-ng, resampled to 16 kHz with soxr and stored
as FLAC in the Hugging Face `audiofolder` layout:

    demo_corpus/{train,validation,test}/metadata.csv
    demo_corpus/{train,validation,test}/{sentences,keywords}/*.flac

Columns of metadata.csv: file_name, kind ("sentence" or "keyword"), text,
keyword (empty for sentences) and speaker (the espeak-ng voice). Each split has
its own voices, so speaker identification and ASR are scored on unseen
speakers; validation and test also draw their sentences from a pool that train
never speaks. A quarter of the sentence utterances are 10-20 s long so that
cropping to 1-4 s matters; keyword clips are exactly 1.0 s, like Speech Commands.

Why FLAC and not Ogg Vorbis, which is half the size: crops are read with
`SoundFile.seek(frame)` + `read(n)`, and libsndfile's Vorbis seeking is not
sample-exact (libsndfile issue #885; about 5% of random seeks returned wrong
samples with libsndfile 1.2.2). FLAC seeks exactly. To keep it compact, samples
are rounded to 10-bit steps (47 dB SNR, far above what espeak-ng's voices need);
FLAC stores the unused low bits of each 16-bit sample for free.

Every choice comes from fixed seeds and fixed voice settings, so a rerun on the
same machine writes byte-identical files.

    python scripts/make_demo_corpus.py --overwrite

Needs espeak-ng: `apt-get install espeak-ng`.
"""

import argparse
import csv
import dataclasses
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16_000
SEED = 1234
PEAK = 0.89  # -1 dBFS, so rounding never clips
RESOLUTION_BITS = 10

SHORT_PER_VOICE = 8
LONG_PER_VOICE = 3  # about 25% of the sentence utterances
SHORT_RANGE_S = (2.0, 8.0)
LONG_RANGE_S = (10.0, 20.0)
LONG_TARGET_S = (10.5, 12.5)  # a long utterance grows until it passes a target drawn here
KEYWORD_RENDITIONS = 2
KEYWORD_CLIP_S = 1.0

DEFAULT_OUTPUT_DIR = Path(__file__).resolve().parent.parent / "hf_seqlen" / "demo_corpus"


@dataclasses.dataclass(frozen=True)
class Voice:
    name: str  # espeak-ng voice+variant; also the speaker label
    pitch: int  # espeak-ng -p, 0-99
    speed: int  # espeak-ng -s, words per minute


# Accents and variants differ between every pair, so no two splits share a voice.
VOICES = {
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


def normalise(text):
    """Lowercase letters, apostrophes and single spaces only: a small CTC vocabulary."""
    text = re.sub(r"[^a-z' ]", " ", text.lower())
    return " ".join(text.split())


def synthesise(voice, text):
    """Speak `text` with espeak-ng; return float32 mono audio at 16 kHz, peak-normalised."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice.name, "-s", str(voice.speed), "-p", str(voice.pitch),
             "-w", str(wav), text],
            check=True,
        )
        audio, rate = sf.read(wav, dtype="float32")
    audio = trim_silence(soxr.resample(audio, rate, SAMPLE_RATE))
    return audio * (PEAK / np.abs(audio).max())


def trim_silence(audio, margin_s=0.1, threshold=0.01):
    """Cut espeak-ng's leading and trailing silence, keeping a short margin."""
    loud = np.flatnonzero(np.abs(audio) > threshold * np.abs(audio).max())
    margin = int(margin_s * SAMPLE_RATE)
    return audio[max(loud[0] - margin, 0): loud[-1] + margin + 1]


def duration(audio):
    return len(audio) / SAMPLE_RATE


def short_utterances(voice, pool, rng):
    """One sentence each, skipping any that this voice speaks outside 2-8 s."""
    utterances = []
    for sentence in rng.sample(pool, len(pool)):
        audio = synthesise(voice, sentence)
        if SHORT_RANGE_S[0] <= duration(audio) <= SHORT_RANGE_S[1]:
            utterances.append((sentence, audio))
        if len(utterances) == SHORT_PER_VOICE:
            return utterances
    raise RuntimeError(f"{voice.name}: fewer than {SHORT_PER_VOICE} sentences last {SHORT_RANGE_S} s")


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
    varied = dataclasses.replace(voice, speed=voice.speed + rng.randint(-20, 20),
                                 pitch=min(max(voice.pitch + rng.randint(-8, 8), 0), 99))
    audio = synthesise(varied, word)
    length = int(KEYWORD_CLIP_S * SAMPLE_RATE)
    if len(audio) > length:
        raise RuntimeError(f"{voice.name} says {word!r} in {duration(audio):.2f} s, over {KEYWORD_CLIP_S} s")
    left = (length - len(audio)) // 2
    return np.pad(audio, (left, length - len(audio) - left))


def write_flac(path, audio):
    """16-bit FLAC whose low bits are zero, which FLAC codes as 'wasted bits'."""
    steps = np.round(audio * 2 ** (RESOLUTION_BITS - 1)).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, steps << (16 - RESOLUTION_BITS), SAMPLE_RATE, format="FLAC", subtype="PCM_16")


def build_split(split, voices, pool, split_dir):
    """Write every clip of one split; return its metadata rows."""
    rows = []
    for voice_index, voice in enumerate(voices):
        rng = random.Random(f"{SEED}-{voice.name}")
        stem = voice.name.replace("+", "_")
        sentences = short_utterances(voice, pool, rng)
        sentences += [long_utterance(voice, pool, rng) for _ in range(LONG_PER_VOICE)]
        for i, (text, audio) in enumerate(sentences):
            file_name = f"sentences/{stem}_{i:03d}.flac"
            write_flac(split_dir / file_name, audio)
            rows.append(dict(file_name=file_name, kind="sentence", text=normalise(text),
                             keyword="", speaker=voice.name))
        for word in KEYWORDS:
            for take in range(KEYWORD_RENDITIONS):
                file_name = f"keywords/{stem}_{word}_{take}.flac"
                write_flac(split_dir / file_name, keyword_clip(voice, word, rng))
                rows.append(dict(file_name=file_name, kind="keyword", text=word,
                                 keyword=word, speaker=voice.name))
        print(f"  {split}: {voice.name} done ({voice_index + 1}/{len(voices)})")
    return rows


def write_metadata(split_dir, rows):
    with open(split_dir / "metadata.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["file_name", "kind", "text", "keyword", "speaker"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def print_summary(output_dir, rows_by_split):
    total_s = 0.0
    for split, rows in rows_by_split.items():
        for kind in ("sentence", "keyword"):
            durations = [sf.info(output_dir / split / r["file_name"]).duration
                         for r in rows if r["kind"] == kind]
            total_s += sum(durations)
            print(f"{split:>10} {kind:>8}: {len(durations):4d} clips, "
                  f"{sum(durations) / 60:5.1f} min, {min(durations):5.2f}-{max(durations):5.2f} s")
    size_mb = sum(p.stat().st_size for p in output_dir.rglob("*") if p.is_file()) / 1e6
    print(f"total: {total_s / 60:.1f} min of audio, {size_mb:.2f} MB in {output_dir}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing corpus")
    args = parser.parse_args()

    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is not installed: apt-get install espeak-ng")
    if args.output_dir.exists():
        if not args.overwrite:
            sys.exit(f"{args.output_dir} exists; pass --overwrite to rebuild it")
        # only ever delete a folder that holds nothing but a corpus
        if not {p.name for p in args.output_dir.iterdir()} <= set(VOICES):
            sys.exit(f"{args.output_dir} holds more than train/validation/test; not deleting it")
        shutil.rmtree(args.output_dir)

    rows_by_split = {}
    for split, voices in VOICES.items():
        pool = TRAIN_SENTENCES if split == "train" else HELD_OUT_SENTENCES
        split_dir = args.output_dir / split
        rows_by_split[split] = build_split(split, voices, pool, split_dir)
        write_metadata(split_dir, rows_by_split[split])
    print_summary(args.output_dir, rows_by_split)


if __name__ == "__main__":
    main()
