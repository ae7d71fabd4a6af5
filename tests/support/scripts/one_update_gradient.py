"""Run under `accelerate launch`: the gradient of one update (`pretrain.accumulate_gradients` of a run built by
`build_run`, scaled by the masked frames every process agreed on), as the first process sees it after DDP's
all-reduce, saved to OUTPUT (a torch file).

    one_update_gradient.py OUTPUT RUN_PRETRAIN_OPTIONS...

The options' config must be without dropout, so that the model in train mode is deterministic. The update is
the first --gradient_accumulation_steps batches of each process's shard of epoch 0, so one process accumulating
2 batches and two processes with 1 each see the same crops.
"""

import sys

import torch

from hf_seqlen.pretrain.args import parse_args
from hf_seqlen.pretrain.loop import accumulate_gradients, agree_before_update
from hf_seqlen.pretrain.run import PretrainingRun, build_run
from hf_seqlen.process_group import leave_process_group


def seed_by_batch(quantizer, args, kwargs):
    """The config has no dropout; what stays random is the quantizer's gumbel noise, which one process
    drawing for two batches draws differently from two processes drawing for one: seed it by the batch."""
    torch.manual_seed(int(kwargs["mask_time_indices"].sum()))


def first_micro_batches(run: PretrainingRun) -> list[dict]:
    """The first update's micro-batches of this process, with the quantizer seeded by the batch."""
    run.unwrapped.quantizer.register_forward_pre_hook(seed_by_batch, with_kwargs=True)
    return [batch for _, batch in zip(range(run.args.gradient_accumulation_steps), run.train_loader)]


def update_gradient(run: PretrainingRun, micro_batches: list[dict]) -> dict[str, torch.Tensor]:
    """The gradient one update over `micro_batches` leaves in the parameters, before clipping."""
    run.model.zero_grad(set_to_none=True)
    accumulate_gradients(run, micro_batches, agree_before_update(run, micro_batches).masked_frames)
    return {name: p.grad.clone() for name, p in run.unwrapped.named_parameters() if p.grad is not None}


if __name__ == "__main__":
    output, options = sys.argv[1], sys.argv[2:]
    run = build_run(*parse_args(options))
    gradient = update_gradient(run, first_micro_batches(run))
    if run.accelerator.is_main_process:
        torch.save(gradient, output)
    run.model = run.optimizer = None  # the DDP wrapper goes before the process group
    leave_process_group(run.accelerator)
