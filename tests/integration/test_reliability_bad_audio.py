"""Bad audio in a real folder: skipped and counted, or a clean stop naming the file.

Other rates and channel counts are not bad: they are resampled and down-mixed.
"""

from __future__ import annotations

import json

import pytest

from helpers import run_accelerate
from messy_audio import make_messy_folder

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
