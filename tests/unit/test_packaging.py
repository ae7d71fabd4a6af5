"""A non-editable install carries what the code reads at run time: the model configs resolve to
folders inside the installed package, not to Hub ids."""

from __future__ import annotations

from helpers import REPO


def test_the_top_level_hub_configs_is_the_packaged_folder():
    assert (REPO / "hub_configs").resolve() == (REPO / "hf_seqlen" / "hub_configs").resolve()
