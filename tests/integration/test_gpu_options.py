"""Options a GPU user reaches for, each checked on the CPU against the eager fp32 path on the same
batches: gradient checkpointing, fused AdamW, the attention kernel, bf16 autocast, torch.compile with
bucketed crop lengths, and the loader's worker settings. Their speed is measured in benchmarks/,
never here."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
import torch._inductor.config
from safetensors import safe_open
from torch._dynamo.utils import counters

from helpers import assert_gradients_close, assert_resume_continues_uninterrupted, logged_steps, run_accelerate
from hf_seqlen.corpus.audio import bucket_lengths
from one_update import batch_of, loss_and_gradients, model_of

# Every run: 6 updates of 1 s crops, snapped to 8 lengths (so the compiled run sees the same crops).
RUN = [
    "--max_duration",
    "1",
    "--max_train_steps",
    "6",
    "--logging_steps",
    "1",
    "--per_device_train_batch_size",
    "4",
    "--max_eval_samples",
    "8",
    "--flops_counted_steps",
    "1",
    "--dataloader_num_workers",
    "1",
    "--length_buckets",
    "8",
]


def losses(result) -> dict[int, float]:
    assert result.returncode == 0, result.stderr[-3000:]
    return {step: line["loss"] for step, line in logged_steps(result.stderr).items()}


@pytest.fixture(scope="module")
def eager_fp32_run(tmp_path_factory) -> Path:
    output_dir = tmp_path_factory.mktemp("eager") / "run"
    result = run_accelerate([*RUN, "--output_dir", str(output_dir)])
    (output_dir / "train.log").write_text(result.stderr)
    assert sorted(losses(result)) == [1, 2, 3, 4, 5, 6]
    return output_dir


@pytest.fixture(scope="module")
def eager_fp32_losses(eager_fp32_run) -> dict[int, float]:
    return {step: line["loss"] for step, line in logged_steps((eager_fp32_run / "train.log").read_text()).items()}


def saved_names(path: Path) -> set[str]:
    with safe_open(path, "pt") as weights:
        return set(weights.keys())


def test_a_run_with_the_gpu_options_trains_as_the_plain_run(tmp_path, eager_fp32_losses):
    """Checkpointing, fused AdamW and persistent prefetching workers change speed and memory, not the losses."""
    tuned = run_accelerate(
        [
            *RUN,
            "--output_dir",
            str(tmp_path / "tuned"),
            "--gradient_checkpointing",
            "--optim",
            "adamw_torch_fused",
            "--dataloader_persistent_workers",
            "--dataloader_prefetch_factor",
            "4",
            "--num_train_epochs",
            "1",
        ]
    )
    assert losses(tuned) == pytest.approx(eager_fp32_losses, rel=1e-3)


def test_a_bf16_mixed_precision_run_stays_near_the_fp32_run(tmp_path, eager_fp32_losses):
    """Accelerate's bf16 autocast, as `--mixed_precision bf16` sets it on a GPU (here the CPU's autocast):
    matrix products in bf16 (8 bits of mantissa), so each update's loss within 3% of fp32's. Over seeds 42, 1, 2
    and 3 the largest step's distance was 2.3%, 1.2%, 0.7% and 0.6%, the contrastive logits taken in float32 from
    Accelerate's float32 outputs (hf_seqlen/pretrain/objective.py); 1.5%, 0.9%, 0.7% and 1.2% with transformers'
    bf16 logits."""
    bf16 = run_accelerate([*RUN, "--output_dir", str(tmp_path / "bf16"), "--mixed_precision", "bf16"])
    assert losses(bf16) == pytest.approx(eager_fp32_losses, rel=3e-2)
    assert losses(bf16) != eager_fp32_losses  # autocast was on


def test_a_compiled_run_trains_as_the_eager_run_saves_plain_names_and_resumes(
    tmp_path, eager_fp32_run, eager_fp32_losses
):
    """--torch_compile through the whole loop (FLOPs counted, validation in eval mode, checkpoints, resume).
    The aot_eager backend traces and compiles the graphs as inductor does but runs aten kernels, so the
    losses are eager's; inductor's kernels are checked against eager in the test above."""
    compiled = [*RUN, "--torch_compile", "--torch_compile_backend", "aot_eager", "--save_steps", "3"]
    whole = assert_resume_continues_uninterrupted(tmp_path, compiled, stopped_at=3)
    assert losses(whole) == pytest.approx(eager_fp32_losses, rel=1e-5)
    assert saved_names(tmp_path / "whole" / "model.safetensors") == saved_names(eager_fp32_run / "model.safetensors")
    assert saved_names(tmp_path / "whole" / "checkpoint-3" / "model.safetensors") == saved_names(
        eager_fp32_run / "checkpoint-6" / "model.safetensors"
    )


def compiled_steps(eager, compiled, shapes):
    """Train steps of both models on the same batches, the gumbel temperature decaying as in the loop:
    the compiled model's loss and gradients must be eager's. Returns the graphs compiled after each step."""
    graphs = []
    for step, seconds in enumerate(shapes):
        batch = batch_of(eager.config, seconds)
        for model in (eager, compiled):
            model.zero_grad(set_to_none=True)
            model.set_gumbel_temperature(2.0 * 0.999995**step)
        loss, gradients = loss_and_gradients(eager.train(), batch)
        loss_compiled, gradients_compiled = loss_and_gradients(compiled.train(), batch)
        assert loss_compiled.item() == pytest.approx(loss.item(), rel=1e-5)
        assert_gradients_close(gradients_compiled, gradients, share=1e-4)
        graphs.append(counters["stats"]["unique_graphs"])
    return graphs


@pytest.fixture
def fresh_dynamo():
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


# wav2vec2-tiny with one transformer layer and two convolutions (of the same total stride, 320 samples a frame):
# every kind of layer inductor compiles for the real model, in fewer kernels to compile.
FEWEST_KERNELS = dict(
    num_hidden_layers=1, num_feat_extract_layers=2, conv_dim=(32, 32), conv_kernel=(10, 64), conv_stride=(5, 64)
)


def test_inductor_kernels_train_as_eager(fresh_dynamo):
    """inductor on the CPU, as on a GPU but with C++ kernels: one step of one crop length (each new
    shape costs minutes of compiling on two cores; a cached rerun takes seconds)."""
    eager, compiled = model_of(**FEWEST_KERNELS), model_of(**FEWEST_KERNELS)
    compiled.compile()
    started = time.perf_counter()
    with torch._inductor.config.patch(fallback_random=True):  # dropout draws as eager does
        compiled_steps(eager, compiled, [(1.0, 0.5)])
    print(f"inductor compiled and ran one step in {time.perf_counter() - started:.0f} s")


def test_several_crop_lengths_compile_a_bounded_set_of_graphs(fresh_dynamo):
    """Three bucket lengths, twice over. Recompiling is Dynamo's decision, made before any backend, so
    aot_eager shows it in seconds: the first length compiles static graphs, the second one set for any
    length (and the decaying temperature one more), and nothing after that."""
    eager, compiled = model_of(), model_of()
    compiled.compile(backend="aot_eager")
    shapes = [(1.0, 0.5), (0.5, 0.5), (1.0, 1.0)]
    assert {s for shape in shapes for s in shape} <= set(bucket_lengths(1.0, 0.5, 2))
    graphs = compiled_steps(eager, compiled, shapes * 2)
    first_pass, second_pass = graphs[: len(shapes)], graphs[len(shapes) :]
    assert second_pass == [first_pass[-1]] * len(shapes), f"a length seen before compiled again: {graphs}"
    assert first_pass[-1] <= 2 * first_pass[0] + 1, graphs
