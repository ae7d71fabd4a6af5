"""Options a GPU user reaches for, each checked on the CPU against the eager fp32 path on the same
batches: gradient checkpointing, fused AdamW, the attention kernel, bf16 autocast, torch.compile with
bucketed crop lengths, and the loader's worker settings. Their speed is measured in benchmarks/,
never here."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
import torch
import torch._inductor.config

from helpers import assert_gradients_close
from hf_seqlen.cli import pretrain_main
from hf_seqlen.pretrain.args import DataArguments
from hf_seqlen.pretrain.loaders import loader_options
from one_update import batch_of, loss_and_gradients, model_of


def test_gradient_checkpointing_recomputes_the_same_forward():
    plain, checkpointed = model_of(), model_of()
    checkpointed.gradient_checkpointing_enable()
    batch = batch_of(plain.config)
    loss, gradients = loss_and_gradients(plain.train(), batch)
    loss_checkpointed, gradients_checkpointed = loss_and_gradients(checkpointed.train(), batch)
    assert loss_checkpointed == pytest.approx(loss.item(), rel=1e-6)
    assert_gradients_close(gradients_checkpointed, gradients)


def test_fused_adamw_takes_the_same_steps():
    """The same gradients (a real batch's, three times) give the same parameters with either kernel."""
    model = model_of()
    _, gradients = loss_and_gradients(model.train(), batch_of(model.config))
    copies = [
        {name: p.detach().clone().requires_grad_() for name, p in model.named_parameters() if name in gradients}
        for _ in range(2)
    ]
    optimizers = [
        torch.optim.AdamW(params.values(), lr=1e-3, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01, fused=fused)
        for params, fused in zip(copies, (False, True))
    ]
    for step in range(3):
        for params, optimizer in zip(copies, optimizers):
            for name, p in params.items():
                p.grad = gradients[name] * (step + 1)
            optimizer.step()
    plain, fused = copies
    for name in plain:
        torch.testing.assert_close(fused[name], plain[name], rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize("kernel", ["sdpa", "eager"])
def test_attention_kernels_agree(kernel):
    # Eval mode: the kernels draw attention dropout differently, and the quantizer is then an argmax.
    reference = model_of(attn_implementation="eager").eval()
    other = model_of(attn_implementation=kernel).eval()
    batch = batch_of(reference.config)
    with torch.no_grad():
        assert other(**batch).loss.item() == pytest.approx(reference(**batch).loss.item(), rel=1e-5)


def test_bf16_autocast_stays_near_fp32():
    model = model_of().eval()
    batch = batch_of(model.config)
    with torch.no_grad():
        fp32 = model(**batch).loss.item()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = model(**batch).loss.item()
    assert bf16 == pytest.approx(fp32, rel=2e-2)


@pytest.mark.parametrize(
    "argv, explanation",
    [
        (["--dataloader_persistent_workers"], "need --dataloader_num_workers >= 1"),
        (["--dataloader_prefetch_factor", "4"], "need --dataloader_num_workers >= 1"),
        (
            [
                "--streaming",
                "--max_train_steps",
                "4",
                "--dataloader_num_workers",
                "1",
                "--dataloader_persistent_workers",
            ],
            "does not work with --streaming",
        ),
        (["--torch_compile_mode", "reduce-overhead"], "need --torch_compile"),
        (["--length_buckets", "-1"], "--length_buckets must be >= 0"),
    ],
)
def test_gpu_option_mistakes_are_one_line(argv, explanation, tmp_path, capsys):
    assert pretrain_main([*argv, "--output_dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hf_seqlen error: ") and explanation in err and "\n" not in err


def test_loader_workers_default_to_none_on_a_cpu_and_to_persistent_ones_on_a_gpu(monkeypatch):
    # No GPU here: the accelerator stands in with only what loader_options reads, its device.
    cpu, gpu = (SimpleNamespace(device=torch.device(kind)) for kind in ("cpu", "cuda"))
    assert loader_options(DataArguments(), cpu)["num_workers"] == 0
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    options = loader_options(DataArguments(), gpu)
    assert options["num_workers"] == 4 and options["persistent_workers"] and options["pin_memory"]
    assert not loader_options(DataArguments(streaming=True), gpu)["persistent_workers"]  # its epoch lives in them
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")  # 2 cores per process: one worker, one core for the loop
    assert loader_options(DataArguments(), gpu)["num_workers"] == 1
    chosen = loader_options(DataArguments(dataloader_num_workers=2), gpu)
    assert chosen["num_workers"] == 2 and not chosen["persistent_workers"]
    assert loader_options(DataArguments(dataloader_num_workers=0), gpu)["num_workers"] == 0
