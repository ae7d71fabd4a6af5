"""The files a downstream run leaves for the study: results.json and the per-example outcomes of each split
(the model card is card.py's).

results.json:
    {"task": "kws", "protocol": "fine-tune" | "probe",
     "upstream": {"model_name_or_path": ..., "max_duration": 2.0 | null, "crop_mode": ... | null,
                  "published_as": "user/repo" | null, "license": ... | null, "costs": {...} | null},
     "metrics": {"eval": {"accuracy": ..., ...}, "test": {...}},
     "examples": {"test": "test_examples.jsonl", ...},
     "train": {"steps": ..., "loss": ..., "runtime_seconds": ...}}

<split>_examples.jsonl, one line per example of that split, in the split's order, so that every
comparison between runs is paired on the same examples and can be recomputed from the files:
    classification: {"id", "reference", "prediction", "correct": 0 | 1}
    asr: {"id", "reference", "prediction", "word_edits", "words", "char_edits", "chars"}
(the reference is the original transcript, normalised; edits count substitutions, deletions, insertions), and
"cluster", the example's speaker, where the split names one: its `speaker` or `speaker_id` column, else for sid
the label. Clips of one voice are not independent evidence, so the study's intervals count speakers, not clips.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..publishing.release import DOWNSTREAM_RESULTS_FILE, EXAMPLES_SUFFIX


def strip_prefix(metrics: dict, prefix: str) -> dict:
    """Trainer names metrics `eval_accuracy`, `test_wer`: keep the bare names."""
    return {key[len(prefix) + 1 :]: value for key, value in metrics.items() if key.startswith(prefix + "_")}


def write_results(output_dir: Path, results: dict) -> Path:
    path = output_dir / DOWNSTREAM_RESULTS_FILE
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path


def examples_file(part: str) -> str:
    return part + EXAMPLES_SUFFIX


def example_ids(dataset, audio_column: str) -> list[str]:
    """Each example's audio path (its row number when the audio came as bytes)."""
    return [str((audio or {}).get("path") or row) for row, audio in enumerate(dataset[audio_column])]


def with_clusters(examples: list[dict], clusters: list[str] | None) -> list[dict]:
    """Outcome rows with each example's speaker as `cluster` (unchanged when the speakers are unknown)."""
    if clusters is None:
        return examples
    return [{**example, "cluster": cluster} for example, cluster in zip(examples, clusters, strict=True)]


def write_examples(output_dir: Path, part: str, examples: list[dict]) -> Path:
    path = output_dir / examples_file(part)
    path.write_text("".join(json.dumps(example, ensure_ascii=False) + "\n" for example in examples))
    return path


def read_examples(run_dir: Path, part: str = "test") -> list[dict] | None:
    path = run_dir / examples_file(part)
    if not path.is_file():
        return None
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
