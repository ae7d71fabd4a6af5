"""run_downstream.py end to end, from the tiny checkpoint pre-trained on the demo corpus: real Trainer runs
(kws and asr as the subprocess a user runs, the smaller runs in-process), real pipelines on the saved folders."""

from __future__ import annotations

import re

import pytest
from transformers import Wav2Vec2FeatureExtractor

from hf_seqlen.cli import downstream_main
from hf_seqlen.corpus.sources import load_audio_split
from hf_seqlen.downstream import classification, ctc, task_table
from hf_seqlen.downstream.args import DownstreamArguments, parse_args, task_training_defaults
from hf_seqlen.downstream.card import downstream_card, upstream_info
from hf_seqlen.downstream.data import _sid_demo_part
from hf_seqlen.downstream.probing import apply_protocol, config_overrides, trainable_parameter_names
from hf_seqlen.downstream.task_table import TASKS
from hf_seqlen.downstream.tasks import task_family
from hf_seqlen.option_parsing import UsageError
from tiny_upstreams import save_upstream


@pytest.mark.parametrize("task", ["kws", "asr"])
def test_probing_trains_only_the_head_and_the_layer_weights(task, tmp_path):
    upstream = save_upstream(tmp_path / "upstream")
    args = DownstreamArguments(task=task, model_name_or_path=str(upstream), freeze_upstream=True)
    if task == "asr":
        train = load_audio_split("train").filter(lambda kind: kind == "sentence", input_columns="kind")
        feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained(upstream)
        processor = ctc.build_processor(train, "text", feature_extractor, tmp_path)
        model = ctc.load_model(str(upstream), processor, True, None, **config_overrides(args))
        head = {"lm_head.weight", "lm_head.bias"}
    else:
        model = classification.load_model(str(upstream), ["a", "b"], True, None, **config_overrides(args))
        head = {"projector.weight", "projector.bias", "classifier.weight", "classifier.bias"}
    apply_protocol(model, args)
    assert set(trainable_parameter_names(model)) == head | {"layer_weights"}
    assert model.config.mask_time_prob == 0.0 and model.config.hidden_dropout == 0.0


def test_fine_tuning_freezes_only_the_feature_encoder(tmp_path):
    upstream = save_upstream(tmp_path / "upstream")
    args = DownstreamArguments(task="kws", model_name_or_path=str(upstream))
    model = classification.load_model(str(upstream), ["a", "b"], False, None, **config_overrides(args))
    apply_protocol(model, args)
    trainable = trainable_parameter_names(model)
    assert not any(name.startswith("wav2vec2.feature_extractor.") for name in trainable)
    assert any(name.startswith("wav2vec2.encoder.layers.") for name in trainable)
    assert "layer_weights" not in trainable


def test_sid_demo_split_keeps_every_training_voice_in_every_part():
    sentences = load_audio_split("train").filter(lambda kind: kind == "sentence", input_columns="kind")
    parts = {part: _sid_demo_part(sentences, part, "speaker") for part in ("train", "eval", "test")}
    files = {part: {ref["path"] for ref in dataset["audio"]} for part, dataset in parts.items()}
    assert sum(map(len, files.values())) == len(sentences)
    assert (
        not (files["train"] & files["eval"])
        and not (files["train"] & files["test"])
        and not (files["eval"] & files["test"])
    )
    voices = set(sentences["speaker"])
    assert all(set(dataset["speaker"]) == voices for dataset in parts.values())
    assert list(_sid_demo_part(sentences, "eval", "speaker")["audio"]) == list(parts["eval"]["audio"])  # deterministic


def test_emotion_recognition_without_data_says_what_to_give(tmp_path, capsys):
    code = downstream_main(["--task", "er", "--model_name_or_path", "up", "--output_dir", str(tmp_path)])
    assert code == 2
    assert "--data_dir" in capsys.readouterr().err


def help_text(capsys) -> str:
    with pytest.raises(SystemExit) as exit:
        parse_args(["--help"])
    assert exit.value.code == 0
    return capsys.readouterr().out


def test_help_shows_each_option_once_under_its_topic(capsys):
    text = help_text(capsys)
    headings = [line.removesuffix(":") for line in text.splitlines() if re.fullmatch(r"[a-z].*:", line)]
    assert headings == [
        "options",
        "task and upstream",
        "fine-tuning or probing",
        "asr probing head",
        "data",
        "costs and model card",
        "training (transformers.TrainingArguments)",
    ]
    for option in ("--output_dir", "--freeze_upstream", "--validation_split_name", "--learning_rate", "--max_steps"):
        assert len(re.findall(rf"^  {option}\b", text, flags=re.M)) == 1, option
    assert "--output-dir" not in text and "--no_freeze_feature_encoder" not in text
    assert re.search(r"--learning_rate LEARNING_RATE\n(.*\n)*?.*per\s+task", text)


def test_dash_spellings_and_no_flags_still_parse():
    args, training_args = parse_args(
        [
            "--task",
            "kws",
            "--model-name-or-path",
            "up",
            "--output-dir",
            "out",
            "--no_freeze_feature_encoder",
            "--learning-rate",
            "0.5",
        ],
        check_sources=False,
    )
    assert args.model_name_or_path == "up" and training_args.output_dir == "out"
    assert not args.freeze_feature_encoder and training_args.learning_rate == 0.5


def test_an_unknown_task_on_the_command_line_is_one_line_naming_the_valid_ones(capsys):
    with pytest.raises(SystemExit) as exit:
        parse_args(["--task", "asv", "--model_name_or_path", "up", "--output_dir", "out"])
    error = capsys.readouterr().err
    assert exit.value.code == 2 and error.count("\n") == 1
    assert "asv" in error and all(task in error for task in TASKS)


def test_a_task_added_to_the_table_gets_its_family_defaults_and_card_title(monkeypatch):
    assert task_family("asr") is ctc.CtcTask and task_family("sid") is classification.ClassificationTask
    monkeypatch.setitem(TASKS, "lid", task_table.classification("Language identification", 4.0, "language"))
    assert task_family("lid") is classification.ClassificationTask
    args = DownstreamArguments(task="lid", model_name_or_path="up")
    assert (args.max_duration, args.label_column_name, args.is_classification) == (4.0, "language", True)
    assert task_training_defaults("lid", probing=True)["learning_rate"] == 3e-2
    results = {
        "task": "lid",
        "protocol": "probe",
        "upstream": upstream_info("facebook/wav2vec2-base"),
        "metrics": {"test": {"accuracy": 0.5}},
        "train": {"steps": 10},
    }
    card = downstream_card(results, "corpus", "corpus", "lid-probe")
    assert "Language identification (probe)" in card.text
    assert card.data.eval_results[0].task_name == "Language identification"


def test_an_unknown_task_in_the_table_is_one_line_naming_the_valid_ones():
    with pytest.raises(UsageError) as error:
        task_family("asv")
    message = str(error.value)
    assert "\n" not in message and "--task asv" in message and all(task in message for task in TASKS)
