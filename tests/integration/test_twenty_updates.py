"""The tolerances of the twenty-update test (tests/unit/test_twenty_updates.py says why they are what they are)
tell apart a run whose updates are a tenth smaller: a second twenty-update run."""

from __future__ import annotations

import json

from twenty_updates import RECORDED, figures_differing, twenty_updates, weights_differing


def test_the_tolerances_tell_apart_a_run_whose_updates_are_a_tenth_smaller(tmp_path):
    """Same seed, data and start, learning rate 9e-4 for 1e-3: the tolerances that let another CPU pass catch it."""
    recorded = json.loads(RECORDED.read_text())
    smaller_updates = twenty_updates(tmp_path / "run", "--learning_rate", "9e-4")
    assert len(figures_differing(smaller_updates, recorded)) > 0
    assert len(weights_differing(smaller_updates, recorded)) > len(recorded["weights"]) // 2
