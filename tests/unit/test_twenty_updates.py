"""Twenty updates of the demo run, in this process with a fixed seed and one thread, log the losses and save
the weights recorded in tests/support/data/twenty_updates.json. The run accumulates two batches per update, changes
crop length half-way, validates and checkpoints at update 10: what the loop does, in one short run.

On one machine the run repeats to the bit. Another CPU picks other vectorised kernels, which moved the logged
figures by up to 1.5e-5 of their value over the twenty updates (figures recorded on an AMD EPYC, run on an Intel
Xeon), so figures and sampled weights are held to 1e-4 of their value (weights near 0, and the norms of tensors near
0, to 1e-5: the attention's key biases get no gradient, since a key bias moves every score of a query alike, and hold
only rounding noise of about 1e-8). A run whose updates are a tenth smaller moves 75 of the 77 saved tensors beyond
that, and is told apart (tests/integration/test_twenty_updates.py).

After a deliberate change to what a run computes, record anew: python tests/support/twenty_updates.py"""

from __future__ import annotations

import json

from twenty_updates import RECORDED, figures_differing, twenty_updates, weights_differing


def test_twenty_updates_log_the_recorded_losses_and_save_the_recorded_weights(tmp_path):
    recorded = json.loads(RECORDED.read_text())
    run = twenty_updates(tmp_path / "run")
    assert figures_differing(run, recorded) == []
    assert weights_differing(run, recorded) == []
