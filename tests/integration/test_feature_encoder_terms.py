"""fairseq's feature-encoder gradient multiplier and feature penalty, which transformers' model lacks:
what each does to one update of wav2vec2 BASE narrowed (group norm), and a real run with both."""

from __future__ import annotations

from helpers import logged_steps, run_accelerate


def test_a_run_with_fairseqs_terms_trains_and_logs_its_penalty(tmp_path):
    result = run_accelerate(
        [
            "--output_dir",
            str(tmp_path / "run"),
            "--max_duration",
            "1",
            "--max_train_steps",
            "4",
            "--logging_steps",
            "2",
            "--per_device_train_batch_size",
            "4",
            "--max_eval_samples",
            "8",
            "--flops_counted_steps",
            "1",
            "--feature_grad_mult",
            "0.1",
            "--feature_penalty_weight",
            "10",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    steps = logged_steps(result.stderr)
    assert sorted(steps) == [2, 4] and all(line["feature_penalty"] > 0 for line in steps.values())
