"""A non-editable install carries what the code reads at run time: the model configs resolve to
folders inside the installed package, not to Hub ids."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from helpers import REPO

# What `pip install .` builds from (the package and the files pyproject.toml names), copied so the
# build's scratch folders (build/, *.egg-info) land in a temporary folder rather than in the checkout.
SOURCE_FILES = ("pyproject.toml", "README.md")


PROBE = """
import json, hf_seqlen
from hf_seqlen.pretrain.args import HUB_CONFIGS, ModelArguments
print(json.dumps({"package": hf_seqlen.__file__, "names": sorted(p.name for p in HUB_CONFIGS.iterdir()),
                  "tiny": ModelArguments().resolve_config_path(),
                  "base": ModelArguments(config_name="wav2vec2-base").resolve_config_path()}))
"""


def test_a_non_editable_install_ships_the_model_configs(tmp_path):
    source, target = tmp_path / "source", tmp_path / "site"
    shutil.copytree(REPO / "hf_seqlen", source / "hf_seqlen", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in SOURCE_FILES:
        shutil.copy(REPO / name, source / name)
    install = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--target",
        str(target),
        str(source),
    ]
    built = subprocess.run(install, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    shutil.rmtree(source)  # nothing may be read from the source tree

    # A fresh interpreter that sees the installed copy only (dependencies from this environment).
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1"}
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    installed = target / "hf_seqlen"
    assert found["package"] == str(installed / "__init__.py")
    assert found["names"] == [
        "wav2vec2-base",
        "wav2vec2-base-layernorm",
        "wav2vec2-large",
        "wav2vec2-small",
        "wav2vec2-tiny",
    ]
    for name in ("tiny", "base"):
        folder = installed / "hub_configs" / f"wav2vec2-{name}"
        assert found[name] == str(folder)
        assert (folder / "config.json").is_file() and (folder / "preprocessor_config.json").is_file()
