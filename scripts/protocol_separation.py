#!/usr/bin/env python
"""Which downstream protocol tells a better upstream from a worse one for the least CPU time.

    python scripts/protocol_separation.py --output_dir runs/protocols --data_dir demo_large \
        --protocol "probe=--freeze_upstream --max_steps 200" --protocol "fine-tune=--max_steps 200"

Per seed it pre-trains the better upstream (run_pretrain.py's default recipe, --better_steps updates)
and the worse ones: the same recipe with a tenth of the updates, and the same config saved untrained.
Every protocol then trains kws on every upstream with that seed, each job an `accelerate launch` as the
sweep runs it, timed in CPU seconds (user + system of the job and its children). The table gives, per
protocol and worse upstream, the paired difference better minus worse in test accuracy with its 95% CI
(statistics.paired_difference: over test clips and seeds), its separation (difference / CI half-width: above
1, the CI excludes zero), and separation^2 per CPU minute of the downstream jobs behind it (what a protocol buys
per minute; compare protocols measured on the same seeds). Finished jobs are kept.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
from pathlib import Path

import torch
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForPreTraining

from hf_seqlen.downstream.results import read_examples
from hf_seqlen.pretrain.args import HUB_CONFIGS
from hf_seqlen.statistics import outcome_table, paired_difference
from hf_seqlen.study.job import Job, launch, merged, settings_from_words


def job_command(entry: str, words: list[str]) -> list[str]:
    """The command a sweep launches for this job of `hf_seqlen.cli ENTRY`."""
    return launch(Job(entry, merged(settings_from_words(words, entry))), None)


def run_timed(command: list[str], log: Path) -> float:
    """Runs `command` to completion and returns the CPU seconds it used (with its children)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log, "w") as out:
        code = subprocess.run(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"}
        ).returncode
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code:
        sys.exit(f"{shlex.join(command)} failed (exit {code}); see {log}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def save_untrained(folder: Path, config_name: str, seed: int) -> None:
    """The default config, initialised with `seed` and saved as run_pretrain.py saves a model."""
    torch.manual_seed(seed)
    Wav2Vec2ForPreTraining(Wav2Vec2Config.from_pretrained(HUB_CONFIGS / config_name)).save_pretrained(folder)
    Wav2Vec2FeatureExtractor.from_pretrained(HUB_CONFIGS / config_name).save_pretrained(folder)


def upstreams(options, seed: int) -> dict[str, Path]:
    root = Path(options.output_dir) / f"seed-{seed}"
    folders = {"better": root / "better", "tenth": root / "tenth", "untrained": root / "untrained"}
    data = ["--data_dir", options.data_dir] if options.data_dir else []
    for name, steps in (("better", options.better_steps), ("tenth", options.better_steps // 10)):
        if not (folders[name] / "costs.json").is_file():
            command = job_command(
                "pretrain",
                [
                    "--max_duration",
                    "2",
                    "--max_train_steps",
                    str(steps),
                    "--seed",
                    str(seed),
                    "--output_dir",
                    str(folders[name]),
                    "--overwrite_output_dir",
                    *data,
                ],
            )
            seconds = run_timed(command, root / f"{name}.log")
            print(f"seed {seed}: pre-trained {name} ({steps} updates) in {seconds:.0f} CPU s", flush=True)
    if not (folders["untrained"] / "config.json").is_file():
        save_untrained(folders["untrained"], "wav2vec2-tiny", seed)
    return folders


def downstream(options, upstream: Path, protocol: str, extra: str, seed: int) -> dict:
    out = Path(options.output_dir) / f"seed-{seed}" / protocol / upstream.name
    timing = out / "cpu_seconds.json"
    if not timing.is_file():
        data = ["--data_dir", options.data_dir] if options.data_dir else []
        command = job_command(
            "downstream",
            [
                "--task",
                "kws",
                "--model_name_or_path",
                str(upstream),
                "--output_dir",
                str(out),
                "--seed",
                str(seed),
                *data,
                *shlex.split(extra),
            ],
        )
        timing.write_text(json.dumps({"cpu_seconds": run_timed(command, out.with_suffix(".log"))}))
    results = json.loads((out / "results.json").read_text())
    return {
        "cpu_seconds": json.loads(timing.read_text())["cpu_seconds"],
        "table": outcome_table(read_examples(out)),
        "eval_accuracy": results["metrics"]["eval"]["accuracy"],
        "test_accuracy": results["metrics"]["test"]["accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--data_dir", default=None, help="Default: the demo corpus shipped in the package.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--better_steps", type=int, default=200)
    parser.add_argument(
        "--protocol",
        action="append",
        required=True,
        help="NAME=run_downstream options, e.g. 'probe=--freeze_upstream --max_steps 200'.",
    )
    parser.add_argument("--worse", nargs="+", default=["tenth", "untrained"], choices=["tenth", "untrained"])
    options = parser.parse_args()
    protocols = dict(text.split("=", 1) for text in options.protocol)

    runs = {}
    for seed in options.seeds:
        folders = upstreams(options, seed)
        for protocol, extra in protocols.items():
            for name in ("better", *options.worse):
                runs[protocol, name, seed] = downstream(options, folders[name], protocol, extra, seed)

    print(
        "| protocol | worse upstream | better acc. | worse acc. | difference (95% CI) | separation | CPU s per job | "
        "separation^2 per CPU min |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for protocol in protocols:
        for worse in options.worse:
            better = [runs[protocol, "better", s] for s in options.seeds]
            other = [runs[protocol, worse, s] for s in options.seeds]
            difference = paired_difference("accuracy", [r["table"] for r in better], [r["table"] for r in other])
            separation = difference.estimate / max((difference.high - difference.low) / 2, 1e-9)
            cpu = sum(r["cpu_seconds"] for r in better + other)
            accuracy = [sum(r["test_accuracy"] for r in rs) / len(rs) for rs in (better, other)]
            print(
                f"| {protocol} | {worse} | {accuracy[0]:.3f} | {accuracy[1]:.3f} | "
                f"{difference.estimate * 100:+.1f} ({difference.low * 100:+.1f} to {difference.high * 100:+.1f}) | "
                f"{separation:.2f} | {cpu / len(better + other):.1f} | {separation**2 / (cpu / 60):.2f} |"
            )
    print(
        json.dumps(
            {f"{p}/{n}/seed-{s}": {k: v for k, v in r.items() if k != "table"} for (p, n, s), r in runs.items()},
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
