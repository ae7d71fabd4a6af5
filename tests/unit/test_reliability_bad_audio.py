"""Bad audio in a real folder: skipped and counted, or a clean stop naming the file.

Other rates and channel counts are not bad: they are resampled and down-mixed.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers import write_tone
from hf_seqlen.corpus.audio import BadAudioError, decode_range, read_info


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
