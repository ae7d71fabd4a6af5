"""Probing on cached features: the head trained on the upstream's hidden states computed once predicts what it
predicts through the live upstream, for both encoder families; training crops are cut from the cached frames;
the cache is reused while upstream and split stay, rebuilt when the upstream changes, bounded in size, and
computed once under DDP."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import yaml
from datasets import Dataset
from transformers import TrainingArguments, Wav2Vec2FeatureExtractor

from helpers import task_of, write_tone
from hf_seqlen.cli import downstream_main
from hf_seqlen.corpus.audio import AudioDecoder
from hf_seqlen.downstream import classification, ctc
from hf_seqlen.downstream.args import DownstreamArguments, parse_args, resolve
from hf_seqlen.downstream.feature_cache import CachedFeatures, cache_key, collate_features
from hf_seqlen.downstream.protocol import FROZEN_UPSTREAM_CONFIG
from hf_seqlen.downstream.run import make_trainer
from hf_seqlen.option_parsing import UsageError
from tiny_upstreams import save_upstream

SECONDS = (1.0, 2.7, 0.6, 1.9)  # padded to 2.7 s in one batch


def tone_split(folder, seconds=SECONDS) -> Dataset:
    """Real audio files with their durations and a label and a transcript each, as load_task_splits gives them."""
    paths = [folder / f"{i}.wav" for i in range(len(seconds))]
    for i, (path, duration) in enumerate(zip(paths, seconds)):
        write_tone(path, duration, seed=i)
    return Dataset.from_dict(
        {
            "audio": [{"path": str(p), "bytes": None} for p in paths],
            "duration": list(seconds),
            "keyword": ["a", "b", "c", "a"][: len(seconds)],
            "text": ["go left", "stop", "no", "on"][: len(seconds)],
        }
    )


def probe(task: str, upstream, tmp_path, ctc_head: str = "linear"):
    """A probing model, its encoder and Trainer processor. Uneven layer weights and a head of unit-scale weights
    (not the tiny initial ones) make a wrong layer, frame or pooling show far above float16 rounding. The conv and
    bilstm CTC heads group frames in pairs; in a padded batch they must not see the frames past an utterance's end."""
    feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained(upstream)
    torch.manual_seed(0)
    if task == "kws":
        model = classification.load_model(str(upstream), ["a", "b", "c"], True, None, **FROZEN_UPSTREAM_CONFIG)
        encode, processor = classification.encoder(["a", "b", "c"], "keyword"), feature_extractor
    else:
        processor = ctc.build_processor(
            Dataset.from_dict({"text": ["go left stop no on"]}), "text", feature_extractor, tmp_path / "vocab"
        )
        head = {"ctc_head": ctc_head, "ctc_head_hidden_size": 16, "ctc_head_num_layers": 2, "ctc_head_downsample": 2}
        model = ctc.load_model(str(upstream), processor, True, None, head, **FROZEN_UPSTREAM_CONFIG)
        encode = ctc.encoder(processor, "text")
    head = [model.projector.weight, model.classifier.weight] if task == "kws" else [model.lm_head.weight]
    with torch.no_grad():
        model.layer_weights.copy_(torch.linspace(-1.0, 2.0, len(model.layer_weights)))
        for weight in head:
            weight.normal_()
    return model.eval(), encode, processor, feature_extractor


@pytest.mark.parametrize(
    "task, ctc_head",
    [("kws", None), ("asr", "linear"), ("asr", "conv"), ("asr", "bilstm")],
    ids=["kws", "asr-linear", "asr-conv", "asr-bilstm"],
)
@pytest.mark.parametrize("group_norm", [False, True], ids=["layer-norm", "group-norm"])
def test_cached_features_give_the_predictions_of_the_live_upstream(task, ctc_head, group_norm, tmp_path):
    upstream = save_upstream(tmp_path / "upstream", group_norm=group_norm)
    live_model, encode, processor, feature_extractor = probe(task, upstream, tmp_path, ctc_head)
    cached_model = copy.deepcopy(live_model)
    splits = {"test": tone_split(tmp_path / "audio")}
    training_args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        per_device_eval_batch_size=8,
        report_to="none",
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    common = dict(task=task, model_name_or_path=str(upstream), freeze_upstream=True)

    live_options = resolve(DownstreamArguments(**common, cache_features=False))
    live_inputs = live_options.protocol.inputs(
        live_model, splits, encode, live_options.data, training_args, feature_extractor
    )
    assert live_inputs.feature_cache is None
    # Through the live upstream as the run evaluates: one padded batch (layer norm) or clip by clip (group norm).
    live_out = make_trainer(
        task_of(live_model, processor),
        live_inputs,
        protocol=live_options.protocol,
        training_args=training_args,
        feature_extractor=feature_extractor,
    ).predict(live_inputs.datasets["test"])
    options = resolve(DownstreamArguments(**common))
    cached, collator, report = options.protocol.inputs(
        cached_model, splits, encode, options.data, training_args, feature_extractor
    )
    assert report["computed"] == ["test"]
    batch = collator([cached["test"][i] for i in range(len(SECONDS))])  # every clip in one padded batch
    with torch.no_grad():
        cached_out = cached_model(**batch)

    live_logits = torch.from_numpy(live_out.predictions)
    if task == "kws":
        assert torch.equal(cached_out.logits.argmax(-1), live_logits.argmax(-1))
        torch.testing.assert_close(cached_out.logits, live_logits, rtol=1e-3, atol=1e-2)  # features stored as float16
    else:
        for row, frames in enumerate(batch["frame_mask"].sum(-1).tolist()):
            assert frames == int(cached_model._get_feat_extract_output_lengths(torch.tensor(int(16000 * SECONDS[row]))))
            frames //= 1 if ctc_head == "linear" else 2
            torch.testing.assert_close(cached_out.logits[row, :frames], live_logits[row, :frames], rtol=1e-3, atol=1e-2)
            assert torch.equal(cached_out.logits[row, :frames].argmax(-1), live_logits[row, :frames].argmax(-1))
    assert cached_out.loss.item() == pytest.approx(live_out.metrics["test_loss"], rel=1e-3)


def test_training_crops_are_random_spans_of_the_whole_utterance(tmp_path):
    upstream = save_upstream(tmp_path / "upstream")
    model, encode, _, feature_extractor = probe("kws", upstream, tmp_path)
    training_args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to="none")
    options = resolve(
        DownstreamArguments(task="kws", model_name_or_path=str(upstream), freeze_upstream=True, max_duration=1.0)
    )
    datasets, _, _ = options.protocol.inputs(
        model, {"train": tone_split(tmp_path / "audio")}, encode, options.data, training_args, feature_extractor
    )
    train = datasets["train"]
    whole = CachedFeatures(train.cache, train.targets)
    crop_frames = int(model._get_feat_extract_output_lengths(torch.tensor(16000)))  # 1 s of audio
    assert train.crop_frames == crop_frames

    long_clip = whole[1]["layer_features"]  # 2.7 s
    starts = set()
    for draw in range(8):
        torch.manual_seed(draw)
        crop = train[1]["layer_features"]
        assert crop.shape[1] == crop_frames
        start = next(
            s
            for s in range(long_clip.shape[1] - crop_frames + 1)
            if torch.equal(long_clip[:, s : s + crop_frames], crop)
        )
        starts.add(start)
    assert len(starts) > 1  # a new crop each time the clip is drawn
    assert torch.equal(train[2]["layer_features"], whole[2]["layer_features"])  # 0.6 s: shorter than the crop, whole


def test_collated_features_mark_the_real_frames():
    items = [{"layer_features": torch.ones(3, n, 4), "labels": label} for n, label in ((5, 0), (2, 1))]
    batch = collate_features(items)
    assert batch["layer_features"].shape == (2, 3, 5, 4)
    assert batch["frame_mask"].sum(-1).tolist() == [5, 2]
    assert batch["layer_features"][1, :, 2:].abs().sum() == 0 and batch["labels"].tolist() == [0, 1]


def test_the_key_changes_with_the_rows_the_files_the_upstream_and_the_decoder(tmp_path):
    split = tone_split(tmp_path / "audio")
    upstream = save_upstream(tmp_path / "upstream")
    model, *_ = probe("kws", upstream, tmp_path)
    decoder = AudioDecoder(16000)
    key, _ = cache_key("digest", model.config, decoder, split, "audio")
    assert cache_key("digest", model.config, decoder, split, "audio")[0] == key
    assert cache_key("digest", model.config, decoder, split.select([0, 1]), "audio")[0] != key
    assert cache_key("other digest", model.config, decoder, split, "audio")[0] != key
    assert cache_key("digest", model.config, AudioDecoder(16000, do_normalize=False), split, "audio")[0] != key
    write_tone(tmp_path / "audio" / "0.wav", SECONDS[0], seed=99)  # rewritten in place: same path and duration
    assert cache_key("digest", model.config, decoder, split, "audio")[0] != key


def test_a_cache_over_its_bound_is_refused_before_any_work(tmp_path, capsys):
    upstream = save_upstream(tmp_path / "upstream")
    assert (
        downstream_main(
            [
                "--task",
                "kws",
                "--freeze_upstream",
                "--model_name_or_path",
                str(upstream),
                "--output_dir",
                str(tmp_path / "out"),
                "--feature_cache_max_gib",
                "0.000001",
            ]
        )
        == 2
    )
    message = capsys.readouterr().err
    assert "--feature_cache_max_gib" in message and "--no_cache_features" in message
    assert not (tmp_path / "out" / "feature_cache").exists()


def test_a_cache_dir_without_probing_is_refused(tmp_path):
    with pytest.raises(UsageError, match="--freeze_upstream"):
        parse_args(
            [
                "--task",
                "kws",
                "--model_name_or_path",
                "x",
                "--output_dir",
                str(tmp_path),
                "--feature_cache_dir",
                str(tmp_path / "cache"),
            ]
        )


@pytest.mark.parametrize("as_file", [False, True])
def test_a_probe_gets_the_probing_defaults_and_the_command_line_still_wins(tmp_path, as_file):
    def parsed(*options: str):
        argv = ["--task", "kws", "--model_name_or_path", "x", "--output_dir", str(tmp_path), *options]
        if as_file:
            words = iter(argv)
            path = tmp_path / "options.json"
            path.write_text(json.dumps({name.removeprefix("--"): yaml.safe_load(next(words)) for name in words}))
            argv = [str(path)]
        return parse_args(argv, check_sources=False)[1]

    fine_tuning, probing = parsed(), parsed("--freeze_upstream", "true")
    assert (fine_tuning.learning_rate, fine_tuning.max_steps) == (3e-3, 200)
    assert (probing.learning_rate, probing.max_steps) == (3e-2, 3000)
    assert parsed("--freeze_upstream", "false").max_steps == 200
    assert parsed("--freeze_upstream", "true", "--max_steps", "7").max_steps == 7
    if not as_file:  # a bare flag means true
        assert parsed("--freeze_upstream").max_steps == 3000
