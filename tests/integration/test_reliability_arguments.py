"""Argument mistakes cost seconds: one clear line, a non-zero exit, before any model or data loads."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import HF_SEQLEN, REPO, launch_env
from option_mistakes import typo_message


@pytest.mark.parametrize(
    "argv, option",
    [
        (["--dataset_name", "openslr/librispeech_asr"], "--dataset_name openslr/librispeech_asr"),
        (["--config_name", "wav2vec2-tinyy"], "--config_name wav2vec2-tinyy"),  # a typo reads as a Hub id
    ],
)
def test_hub_id_while_offline_fails_in_a_real_process(argv, option, tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "run_pretrain.py"), *argv, "--output_dir", str(tmp_path / "run")],
        cwd=REPO,
        env=launch_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"hf_seqlen error: {option}: it is not in the local cache")
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def test_the_installed_console_script_reports_a_mistyped_option_in_one_line():
    """One real process keeps the wiring honest: the console script, its exit status and what reaches stderr."""
    command = [HF_SEQLEN, "pretrain", "--crop-mod", "chunk"]
    result = subprocess.run(command, cwd=REPO, env=launch_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.strip() == typo_message("--crop-mod", "--crop_mode")
