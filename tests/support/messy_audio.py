"""A corpus folder with every kind of bad file a real one holds beside good ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from helpers import write_tone


def make_messy_folder(root: Path) -> tuple[Path, set[str]]:
    """Good files, a corrupt one, an empty one and a NaN one, all listed in metadata.csv."""
    names = []
    for i in range(6):
        write_tone(root / f"good{i}.wav", seconds=1.5 + i, seed=i)
        names.append(f"good{i}.wav")
    write_tone(root / "stereo_44k.wav", seconds=3.0, rate=44100, channels=2, seed=7)
    write_tone(root / "narrow_8k.wav", seconds=3.0, rate=8000, seed=8)
    (root / "corrupt.wav").write_bytes(b"RIFF\x00\x01\x00\x00WAVEfmt " + np.random.default_rng(0).bytes(600))
    (root / "empty.wav").write_bytes(b"")
    samples = write_tone(root / "nan.wav", seconds=2.0, seed=9)
    samples[::1000] = np.nan  # in every crop
    sf.write(root / "nan.wav", samples, 16000, subtype="FLOAT")
    names += ["stereo_44k.wav", "narrow_8k.wav", "corrupt.wav", "empty.wav", "nan.wav"]
    (root / "metadata.csv").write_text("file_name\n" + "\n".join(names) + "\n")
    return root, {"corrupt.wav", "empty.wav", "nan.wav"}
