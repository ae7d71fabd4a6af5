"""Options a GPU user reaches for, each checked on the CPU against the eager fp32 path on the same
batches: gradient checkpointing, fused AdamW, the attention kernel, bf16 autocast, and the loader's
worker settings. Their speed is measured in benchmarks/, never here."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining

from conftest import assert_gradients_close, logged_steps, run_accelerate
from hf_seqlen.args import HUB_CONFIGS
from hf_seqlen.audio import Crop
from hf_seqlen.cli import pretrain_main
from hf_seqlen.collate import PretrainingCollator, model_inputs

RATE = 16000


def batch_of(config, seconds=(2.0, 1.6, 1.1)):
    rng = np.random.default_rng(0)
    samples = [{"crop": Crop(i, 0.0, s), "epoch": 0, "input_values": rng.standard_normal(int(s * RATE)).astype(np.float32)}
               for i, s in enumerate(seconds)]
    return model_inputs(PretrainingCollator(config, RATE)(samples), torch.device("cpu"))


def model_of(seed=0, **config_options):
    torch.manual_seed(seed)
    return Wav2Vec2ForPreTraining(Wav2Vec2Config.from_pretrained(HUB_CONFIGS / "wav2vec2-tiny", **config_options))


def loss_and_gradients(model, batch, seed=1):
    torch.manual_seed(seed)  # dropout and the quantizer's gumbel noise draw the same numbers in both arms
    loss = model(**batch).loss
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


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
    copies = [{name: p.detach().clone().requires_grad_() for name, p in model.named_parameters() if name in gradients}
              for _ in range(2)]
    optimizers = [torch.optim.AdamW(params.values(), lr=1e-3, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01,
                                    fused=fused) for params, fused in zip(copies, (False, True))]
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


def test_a_run_with_the_gpu_options_trains_as_the_plain_run(tmp_path):
    """Checkpointing, fused AdamW and persistent prefetching workers change speed and memory, not the losses."""
    common = ["--max_duration", "1", "--max_train_steps", "6", "--logging_steps", "1", "--per_device_train_batch_size",
              "4", "--max_eval_samples", "8", "--flops_counted_steps", "1", "--dataloader_num_workers", "1"]
    plain = run_accelerate([*common, "--output_dir", str(tmp_path / "plain")])
    tuned = run_accelerate([*common, "--output_dir", str(tmp_path / "tuned"), "--gradient_checkpointing",
                            "--optim", "adamw_torch_fused", "--dataloader_persistent_workers",
                            "--dataloader_prefetch_factor", "4", "--num_train_epochs", "1"])
    for result in (plain, tuned):
        assert result.returncode == 0, result.stderr[-3000:]
    expected = {step: line["loss"] for step, line in logged_steps(plain.stderr).items()}
    assert sorted(expected) == [1, 2, 3, 4, 5, 6]
    assert {step: line["loss"] for step, line in logged_steps(tuned.stderr).items()} == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("argv, explanation", [
    (["--dataloader_persistent_workers"], "need --dataloader_num_workers >= 1"),
    (["--dataloader_prefetch_factor", "4"], "need --dataloader_num_workers >= 1"),
    (["--streaming", "--max_train_steps", "4", "--dataloader_num_workers", "1", "--dataloader_persistent_workers"],
     "does not work with --streaming"),
])
def test_loader_options_without_workers_are_one_line(argv, explanation, tmp_path, capsys):
    assert pretrain_main([*argv, "--output_dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hf_seqlen error: ") and explanation in err and "\n" not in err
