"""Publishing to the Hub and loading back, through the real huggingface_hub client.

The Hub cannot be reached from here: tests/support/hub_server.py stands in for it on 127.0.0.1, and
every command below finds it through HF_ENDPOINT, as it would find a Hub mirror.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import constants as hf_constants

from hf_seqlen.cli import push_main
from hub_server import FakeHub


@pytest.mark.parametrize(
    "offline, message",
    [
        (True, "HF_HUB_OFFLINE is set"),
        (False, "no Hugging Face token to push with"),
    ],
)
def test_push_without_network_or_token_says_what_is_missing(
    hub: FakeHub, tmp_path: Path, monkeypatch, capsys, offline: bool, message: str
):
    """In this process: huggingface_hub reads HF_HUB_OFFLINE, the endpoint and the login's path when imported."""
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", offline)
    monkeypatch.setattr(hf_constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "no-login" / "token"))
    monkeypatch.setattr(hf_constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-login" / "stored_tokens"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "pretraining_args.json").write_text("{}")
    assert push_main([str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not hub.requests


def test_push_names_an_unknown_option_and_a_folder_that_is_no_run(tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as exit:
        push_main([str(tmp_path), "--hub_model_idd", "x"])
    assert exit.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "hf_seqlen error: unknown option --hub_model_idd (did you mean --hub_model_id?). --help lists every option."
    )
    assert push_main([str(tmp_path)]) == 1
    assert f"{tmp_path} holds neither pretraining_args.json nor results.json" in capsys.readouterr().err
