"""Bad audio in a real folder: skipped and counted, or a clean stop naming the file.

Other rates and channel counts are not bad: they are resampled and down-mixed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import run_accelerate, write_tone
from hf_seqlen.corpus.audio import BadAudioError, decode_range, read_info

SHORT_RUN = [
    "--max_duration",
    "1",
    "--flops_counted_steps",
    "1",
    "--per_device_train_batch_size",
    "4",
    "--logging_steps",
    "1",
    "--validation_split_percentage",
    "20",
]


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


@pytest.fixture
def messy_folder(tmp_path: Path) -> tuple[Path, set[str]]:
    return make_messy_folder(tmp_path / "messy")


def test_each_kind_of_bad_audio_is_detected_and_good_audio_is_not(messy_folder):
    folder, bad = messy_folder
    for path in sorted(folder.glob("*.wav")):
        ref = {"path": str(path)}
        if path.name in bad:
            with pytest.raises(BadAudioError) as caught:
                decode_range(ref, 0.0, 1.0, 16000) if path.name == "nan.wav" else read_info(ref)
            assert caught.value.name == str(path) and caught.value.reason
        else:
            values = decode_range(ref, 0.5, 1.0, 16000)
            assert values.ndim == 1 and len(values) == 16000 and np.isfinite(values).all()


def test_truncated_file_is_bad_at_decode_time(tmp_path):
    path = tmp_path / "cut.flac"
    write_tone(path, seconds=4.0)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])  # the header still claims 4 s
    with pytest.raises(BadAudioError):
        decode_range({"path": str(path)}, 3.0, 1.0, 16000)


@pytest.mark.slow
def test_skip_trains_and_counts_exactly_the_bad_files(messy_folder, tmp_path):
    folder, bad = messy_folder
    output_dir = tmp_path / "run"
    # 8 readable files, 6 after the validation share: 2 batches an epoch, so 3 updates decode every crop.
    result = run_accelerate(
        [
            "--data_dir",
            str(folder),
            "--output_dir",
            str(output_dir),
            "--max_train_steps",
            "3",
            "--on_bad_audio",
            "skip",
            *SHORT_RUN,
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    costs = json.loads((output_dir / "costs.json").read_text())
    assert costs["bad_audio_files"] == len(bad)
    for name in bad:  # each named once, with its reason
        assert result.stderr.count(f"skipping bad audio {folder / name}:") == 1
    assert (output_dir / "model.safetensors").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("only_bad", ["corrupt.wav", "nan.wav"])  # found in the header, found when decoding
def test_error_stops_naming_the_file_without_a_traceback(tmp_path, only_bad):
    folder, bad = make_messy_folder(tmp_path / "messy")
    for name in bad - {only_bad}:
        (folder / name).unlink()
    (folder / "metadata.csv").write_text("file_name\n" + "\n".join(sorted(p.name for p in folder.glob("*.wav"))) + "\n")
    result = run_accelerate(
        [
            "--data_dir",
            str(folder),
            "--output_dir",
            str(tmp_path / "run"),
            "--max_train_steps",
            "3",
            "--on_bad_audio",
            "error",
            *SHORT_RUN,
        ],
        launch_args=("--quiet",),
    )
    assert result.returncode != 0
    assert f"hf_seqlen bad audio: {folder / only_bad}:" in result.stderr
    assert "Traceback" not in result.stderr
