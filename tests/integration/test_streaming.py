"""--streaming: crops drawn as files arrive, split between processes, and a real streamed run."""

import json

from helpers import assert_resume_continues_uninterrupted, run_accelerate, write_tone


def test_a_streamed_run_trains_and_writes_its_outputs(tmp_path):
    output_dir = tmp_path / "streamed"
    result = run_accelerate(
        [
            "--streaming",
            "--max_train_steps",
            "6",
            "--max_duration",
            "2",
            "--logging_steps",
            "3",
            "--output_dir",
            str(output_dir),
            "--max_eval_samples",
            "16",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    costs = json.loads((output_dir / "costs.json").read_text())
    assert costs["optimizer_steps"] == 6 and costs["samples"] == 48 and costs["longest_input_seconds"] <= 2.0


def test_a_streamed_run_of_two_processes_with_workers_resumes_as_if_uninterrupted(tmp_path):
    """As a large corpus is trained on several GPUs: each process streams its own share through its
    workers, and the checkpoint keeps every worker's position in the stream, so the resumed updates see
    the same batches and log the uninterrupted run's losses."""
    whole = assert_resume_continues_uninterrupted(
        tmp_path,
        [
            "--streaming",
            "--max_train_steps",
            "6",
            "--save_steps",
            "3",
            "--max_duration",
            "1",
            "--logging_steps",
            "1",
            "--dataloader_num_workers",
            "2",
            "--per_device_train_batch_size",
            "4",
            "--max_eval_samples",
            "8",
            "--flops_counted_steps",
            "1",
        ],
        stopped_at=3,
        processes=2,
    )
    costs = json.loads((tmp_path / "whole" / "costs.json").read_text())
    assert costs["num_devices"] == 2 and costs["samples"] == 2 * 4 * 6, whole.stderr[-3000:]


def test_a_streamed_resume_after_one_process_crossed_into_the_next_epoch_continues_as_uninterrupted(tmp_path):
    """Shards of unequal length: process 0 streams 3 files, process 1 streams 2, one per update. At the
    step-3 checkpoint process 1 is one batch into its second epoch while process 0 ends its first; each
    resumes at its own place, so the resumed updates log the uninterrupted run's losses."""
    corpus = tmp_path / "corpus"
    for i in range(5):
        write_tone(corpus / "train" / f"train{i}.flac", seconds=2.0, seed=i)
    for i in range(2):
        write_tone(corpus / "validation" / f"validation{i}.flac", seconds=2.0, seed=10 + i)
    assert_resume_continues_uninterrupted(
        tmp_path,
        [
            "--streaming",
            "--data_dir",
            str(corpus),
            "--max_train_steps",
            "5",
            "--save_steps",
            "3",
            "--max_duration",
            "1",
            "--logging_steps",
            "1",
            "--per_device_train_batch_size",
            "1",
            "--flops_counted_steps",
            "1",
        ],
        stopped_at=3,
        processes=2,
    )
    progress = json.loads((tmp_path / "whole" / "checkpoint-3" / "progress.json").read_text())
    assert progress["process_positions"] == [{"epoch": 0, "batches_done": 3}, {"epoch": 1, "batches_done": 1}]
