"""Training health: non-finite updates are skipped and counted; too many in a row stop the run
with a clear message and an intact checkpoint to resume from."""

from __future__ import annotations

from helpers import run_accelerate
from hf_seqlen.pretrain.checkpoints import complete_checkpoints


def test_diverging_run_stops_clearly_with_a_usable_checkpoint(tmp_path):
    output_dir = tmp_path / "run"
    # A learning rate of 1e12 sends the weights to infinity in the first update.
    result = run_accelerate(
        [
            "--output_dir",
            str(output_dir),
            "--max_train_steps",
            "10",
            "--save_steps",
            "1",
            "--learning_rate",
            "1e12",
            "--warmup_steps",
            "0",
            "--max_grad_norm",
            "0",
            "--max_consecutive_nonfinite",
            "2",
            "--max_duration",
            "1",
            "--per_device_train_batch_size",
            "2",
            "--flops_counted_steps",
            "1",
            "--max_eval_samples",
            "4",
        ],
        launch_args=("--quiet",),
    )
    assert result.returncode == 1
    assert result.stderr.count("update skipped") == 2
    [message] = [line for line in result.stderr.splitlines() if line.startswith("hf_seqlen error: ")]
    assert message.startswith("hf_seqlen error: 2 updates in a row had a non-finite loss or gradient")
    checkpoints = complete_checkpoints(output_dir)
    assert checkpoints and f"The last checkpoint, {checkpoints[-1]}, is intact" in message
    assert "Traceback" not in result.stderr
