"""FLOPs as every cost in the project counts them: torch's FlopCounterMode, plus attention on the CPU.

FlopCounterMode has formulas for the scaled-dot-product attention kernels of GPUs (flash, efficient,
cuDNN) but none for the CPU's flash kernel, which PyTorch picks whenever attention has no dropout
(eval mode, or configs without attention dropout): there attention, the cost that grows fastest
with sequence length, would count as 0. The CPU kernel gets torch's own SDPA formulas, so a count is
the same on every device: forward 2 matrix products (scores, weighted values), backward 5 (the
scores recomputed, then the gradients of scores, values, queries and keys), as the flash kernels do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

aten = torch.ops.aten


def _cpu_attention(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_attention_backward(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


CPU_ATTENTION_FORMULAS = {
    aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention,
    aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_attention_backward,
}


@contextlib.contextmanager
def flop_counter() -> Iterator[FlopCounterMode]:
    """A FlopCounterMode that counts attention on every device. A compiled model runs eagerly inside:
    the counter sees aten operations, which fused kernels would hide."""
    with (
        torch.compiler.set_stance("force_eager"),
        FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FORMULAS) as counter,
    ):
        yield counter
