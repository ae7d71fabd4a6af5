"""Every downstream task in one table: what the options, the runner, the model card and the figures know of it.

Adding a task that is a kind of utterance classification or CTC is one entry in TASKS; a new kind of head is a
module shaped as classification.py, named in tasks.FAMILIES (README.md, "Changing the code").
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TaskSpec:
    title: str  # in model cards and figures
    family: str  # the key of its implementation in tasks.FAMILIES
    # Classification: training clips are randomly cropped to this many seconds. ASR: training utterances longer
    # than this are dropped, since a crop would cut its transcript.
    max_duration: float
    label_column: str | None = None  # the column a classification task reads unless --label_column_name names another
    fine_tuning: dict = field(default_factory=dict)  # training defaults over the common ones (downstream/args.py)
    probing: dict = field(default_factory=dict)  # and over those, with --freeze_upstream
    pipeline_tag: str = "audio-classification"  # the model card's task type on the Hub

    @property
    def is_classification(self) -> bool:
        return self.family == "classification"


# A probe trains only a head on cached features, so its steps cost milliseconds and it can train to near
# convergence: at 200 steps and 3e-3, kws probes scored 19 to 29 points below these defaults
# (docs/measurements/probe-length.md).
CLASSIFICATION_PROBING = {"learning_rate": 3e-2, "max_steps": 3000}
CLASSIFICATION_FINE_TUNING = {"learning_rate": 3e-3}


def classification(title: str, max_duration: float, label_column: str) -> TaskSpec:
    return TaskSpec(
        title, "classification", max_duration, label_column, CLASSIFICATION_FINE_TUNING, CLASSIFICATION_PROBING
    )


TASKS: dict[str, TaskSpec] = {
    "asr": TaskSpec(
        "Speech recognition",
        "ctc",
        max_duration=20.0,
        # One utterance per evaluation batch: no padded frames, so greedy decoding equals the pipeline's.
        # Eight sentences per training batch: 16 of up to 20 s cost a CPU step of several seconds.
        fine_tuning={"learning_rate": 1e-3, "per_device_eval_batch_size": 1, "per_device_train_batch_size": 8},
        probing={"learning_rate": 2e-3},
        pipeline_tag="automatic-speech-recognition",
    ),
    "kws": classification("Keyword spotting", 1.0, "keyword"),  # keyword clips are about 1 s
    "sid": classification("Speaker identification", 3.0, "speaker"),
    "er": classification("Emotion recognition", 6.0, "emotion"),
    "audio-classification": classification("Audio classification", 6.0, "label"),
}
CLASSIFICATION_TASKS = tuple(name for name, spec in TASKS.items() if spec.is_classification)
