"""What the README tells a newcomer on its first screen: what the toolkit does, how to install it on a CPU and on a
GPU, the two quick-start commands CI runs, how to pre-train, probe, publish and run the study, the headline figures
with the scale they were measured at, and how to cite the paper; and every file it links exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
FIRST_SCREEN = "\n".join(README.splitlines()[:70])


def test_ci_runs_the_readmes_test_command():
    [command] = re.findall(r"^bash scripts/setup.sh && \.venv/bin/python -m pytest.*$", README, flags=re.MULTILINE)
    assert command in (REPO / ".ci" / "run").read_text()


def test_the_first_screen_says_how_to_install_train_probe_publish_study_and_cite():
    for needed in (
        "https://download.pytorch.org/whl/cpu",  # the CPU build
        "pip install torch",  # PyPI's CUDA build, on a GPU machine
        "bash scripts/setup.sh && .venv/bin/accelerate launch run_pretrain.py --max_duration 2",
        "run_pretrain.py --max_duration 2",
        "--freeze_upstream",
        "hf-seqlen push",
        "hf-seqlen sweep",
        "@inproceedings",
        "Match to Win",
    ):
        assert needed in FIRST_SCREEN, needed


def test_the_headline_figures_name_the_scale_they_were_measured_at():
    [headline] = re.findall(r"## What it has measured\n\n(.*?)\n\n", FIRST_SCREEN, flags=re.DOTALL)
    assert "95% CI" in headline
    for scale in ("wav2vec2-tiny", "parameters", "espeak-ng", "CPU"):
        assert scale in headline, scale


def test_every_linked_file_exists():
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README):
        if not target.startswith("http"):
            assert (REPO / target).exists(), target
