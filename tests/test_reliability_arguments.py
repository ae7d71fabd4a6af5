"""Argument mistakes cost seconds: one clear line, a non-zero exit, before any model or data loads."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO, launch_env
from hf_seqlen.cli import pretrain_main

MISTAKES = {
    "unknown config path": (["--config_name", "./no/such/config"], "no config.json there"),
    "missing data dir": (["--data_dir", "/no/such/audio"], "no such directory"),
    "zero max duration": (["--max_duration", "0"], "--max_duration must be > 0"),
    "negative max duration": (["--max_duration", "-2"], "--max_duration must be > 0"),
    "min above max": (["--max_duration", "2", "--min_duration", "3"], "Lower --min_duration"),
    "batch below one crop": (["--max_duration", "4", "--max_batch_seconds", "2"], "Raise it to at least"),
    "zero save minutes": (["--save_minutes", "0"], "--save_minutes must be > 0"),
    "negative checkpoint limit": (["--save_total_limit", "-1"], "0 keeps every checkpoint"),
    "zero ddp timeout": (["--ddp_timeout", "0"], "--ddp_timeout must be > 0"),
}


@pytest.mark.parametrize("name", MISTAKES)
def test_mistake_is_one_line_before_anything_loads(name, tmp_path, capsys, caplog):
    argv, explanation = MISTAKES[name]
    output_dir = tmp_path / "run"
    assert pretrain_main([*argv, "--output_dir", str(output_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hf_seqlen error: ") and explanation in err and "\n" not in err
    assert not output_dir.exists() and not caplog.records  # nothing was loaded or logged


@pytest.mark.parametrize("argv, option", [
    (["--dataset_name", "openslr/librispeech_asr"], "--dataset_name openslr/librispeech_asr"),
    (["--config_name", "wav2vec2-tinyy"], "--config_name wav2vec2-tinyy"),  # a typo reads as a Hub id
])
def test_hub_id_while_offline_fails_in_a_real_process(argv, option, tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "run_pretrain.py"), *argv, "--output_dir", str(tmp_path / "run")],
                            cwd=REPO, env=launch_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"hf_seqlen error: {option}: it is not in the local cache")
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()
