"""A downstream prediction does not depend on which clips share its evaluation batch, for both encoder
families: layer norm with an attention mask (batched) and group norm without one, as BASE (one clip
per batch)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from datasets import Dataset
from transformers import TrainingArguments, Wav2Vec2FeatureExtractor

from helpers import task_of, write_tone
from hf_seqlen.corpus.audio import AudioDecoder
from hf_seqlen.downstream import classification, ctc
from hf_seqlen.downstream.data import AudioCollator, LabelledAudio
from hf_seqlen.downstream.protocol import FineTuning, TaskInputs
from hf_seqlen.downstream.run import make_trainer
from hf_seqlen.downstream.trainer_settings import padding_changes_predictions
from tiny_upstreams import save_upstream, tiny_config

SECONDS = (1.0, 2.7, 0.6)  # the first clip is padded to 2.7 s when it shares a batch
FINE_TUNING = FineTuning(mask_time_prob=0.05, freeze_feature_encoder=True)


def clips(folder, seconds, target=0) -> LabelledAudio:
    """Real audio files, decoded and normalised as downstream evaluation does; every clip has `target`."""
    paths = [folder / f"{i}.wav" for i in range(len(seconds))]
    for i, (path, duration) in enumerate(zip(paths, seconds)):
        write_tone(path, duration, seed=i)
    dataset = Dataset.from_dict({"audio": [{"path": str(p), "bytes": None} for p in paths], "duration": list(seconds)})
    return LabelledAudio(dataset, [target] * len(seconds), AudioDecoder(16000))


def audio_inputs(feature_extractor) -> TaskInputs:
    """No training or evaluation split (each test predicts its own clips), and the run's audio collator."""
    return TaskInputs({}, AudioCollator(return_attention_mask=feature_extractor.return_attention_mask))


def fine_tuning_trainer(task, feature_extractor, output_dir: Path, eval_batch_size: int):
    """The task's Trainer as run_downstream.py makes it for fine-tuning, evaluating `eval_batch_size` clips a batch."""
    training_args = TrainingArguments(
        output_dir=str(output_dir),
        per_device_eval_batch_size=eval_batch_size,
        report_to="none",
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    return make_trainer(
        task,
        audio_inputs(feature_extractor),
        protocol=FINE_TUNING,
        training_args=training_args,
        feature_extractor=feature_extractor,
    )


def test_the_group_norm_upstream_here_is_what_base_is():
    assert padding_changes_predictions(
        tiny_config(group_norm=True), Wav2Vec2FeatureExtractor(return_attention_mask=False)
    )


@pytest.mark.parametrize("group_norm", [True, False], ids=["group-norm", "layer-norm"])
def test_a_clip_gets_the_same_logits_alone_and_in_a_padded_eval_batch(group_norm, tmp_path):
    upstream = save_upstream(tmp_path / "upstream", group_norm=group_norm)
    feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained(upstream)
    model = classification.load_model(str(upstream), ["a", "b", "c"], False, None)
    trainer = fine_tuning_trainer(task_of(model, feature_extractor), feature_extractor, tmp_path / "out", 8)
    together = trainer.predict(clips(tmp_path / "audio", SECONDS)).predictions
    alone = trainer.predict(clips(tmp_path / "audio", SECONDS[:1])).predictions
    torch.testing.assert_close(torch.from_numpy(together[0]), torch.from_numpy(alone[0]), rtol=1e-4, atol=1e-5)
    # Layer-norm upstreams keep their batches: padding is masked, so there is no need to give them up.
    assert trainer.args.per_device_eval_batch_size == (1 if group_norm else 8)


def test_ctc_logits_of_a_group_norm_upstream_do_not_depend_on_the_batch(tmp_path):
    upstream = save_upstream(tmp_path / "upstream", group_norm=True)
    feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained(upstream)
    train = Dataset.from_dict({"text": ["go left", "stop"]})
    processor = ctc.build_processor(train, "text", feature_extractor, tmp_path / "out")
    model = ctc.load_model(str(upstream), processor, False, None)
    trainer = fine_tuning_trainer(task_of(model, processor), feature_extractor, tmp_path / "out", 4)
    together = trainer.predict(clips(tmp_path / "audio", SECONDS, [1, 2])).predictions
    alone = trainer.predict(clips(tmp_path / "audio", SECONDS[:1], [1, 2])).predictions
    frames = alone.shape[1]
    torch.testing.assert_close(torch.from_numpy(together[0, :frames]), torch.from_numpy(alone[0]), rtol=1e-4, atol=1e-5)
