"""Pre-training as users run it on several GPUs: BASE-shaped models (group norm, layerdrop) in real
multi-process runs over gloo, and a gradient that does not depend on how the batch was split."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from accelerate.utils import DistributedType

from helpers import assert_gradients_close
from hf_seqlen.option_parsing import UsageError
from hf_seqlen.pretrain.run import check_distributed_type
from in_process import built_run
from one_update import update_options, without_dropout
from scripts.one_update_gradient import first_micro_batches, update_gradient


def test_an_update_is_the_mean_over_the_masked_frames_of_its_micro_batches(tmp_path):
    """Two micro-batches accumulated weigh each masked frame alike: their gradients, weighted by their frames."""
    with built_run(update_options(without_dropout(tmp_path / "config"), tmp_path / "run", accumulation=2)) as run:
        micro_batches = first_micro_batches(run)
        both = update_gradient(run, micro_batches)
        alone = [update_gradient(run, [batch]) for batch in micro_batches]
    frames = [int(batch["mask_time_indices"].sum()) for batch in micro_batches]
    expected = {name: sum(f * gradient[name] for f, gradient in zip(frames, alone)) / sum(frames) for name in both}
    assert_gradients_close(both, expected)


@pytest.mark.parametrize("kind", [DistributedType.DEEPSPEED, DistributedType.FSDP])
def test_deepspeed_and_fsdp_are_refused_in_one_line(kind):
    # Neither can start on this CPU machine (accelerate's FSDP needs a GPU), so the accelerator is a stand-in.
    with pytest.raises(UsageError, match="is not supported: pre-training runs on one device or on several with DDP"):
        check_distributed_type(SimpleNamespace(distributed_type=kind))
