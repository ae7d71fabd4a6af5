"""The Match-to-Win study in one command: for each sequence length (and length schedule),
pre-train, train every task (probing by default) on that checkpoint, then report cost against quality.

    hf-seqlen sweep --durations 1 2 4 --tasks kws asr --max_train_steps 200 --output_dir study

Every job is a real `accelerate launch` of run_pretrain / run_downstream, so a sweep runs on many
GPUs unchanged (`--accelerate_config`). Every arm runs once per seed (`--seeds 0 1 2`), in
`<arm>/seed-<s>/`. A finished (arm, seed, task) job is never redone, so adding a seed runs only the new
jobs; an interrupted pre-training resumes from its last checkpoint.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .args import UsageError
from .options import parse_dataclasses
from .report import seed_dir, write_report
from .study_card import write_card_sections
from .schedule import DurationSchedule

logger = logging.getLogger("hf_seqlen.sweep")


@dataclass
class SweepArguments:
    output_dir: str = field(metadata={"help": "Where every run and the report go."})
    durations: list[float] = field(default_factory=lambda: [1.0, 2.0, 4.0],
                                   metadata={"help": "Pre-training max_duration of each arm, in seconds."})
    duration_schedules: list[str] = field(
        default_factory=list,
        metadata={"help": "Curriculum arms, e.g. '1:0.5,2:0.3,8:0.2' (duration:share of the budget, short first)."},
    )
    tasks: list[str] = field(default_factory=lambda: ["kws", "asr"], metadata={"help": "Downstream tasks per arm."})
    budget: str = field(
        default="steps",
        metadata={"help": "What is equal across arms: steps (--max_train_steps), audio_hours "
                          "(--budget_audio_hours) or flops (--budget_flops).",
                  "choices": ["steps", "audio_hours", "flops"]},
    )
    max_train_steps: int = field(default=200, metadata={"help": "Pre-training updates per arm (budget=steps)."})
    budget_audio_hours: float | None = field(default=None, metadata={"help": "Audio hours fed per arm."})
    budget_flops: float | None = field(default=None, metadata={"help": "Training FLOPs per arm."})
    downstream_max_steps: int | None = field(
        default=None, metadata={"help": "Training steps per task (default: run_downstream's for the task)."})
    accelerate_config: str | None = field(default=None, metadata={"help": "Config file for every `accelerate launch`."})
    pretrain_args: str = field(default="", metadata={"help": "More run_pretrain options, as one quoted string."})
    # Probing ranks upstreams for the least CPU time; measured in docs/study.md ("Which downstream protocol").
    downstream_args: str = field(
        default="--freeze_upstream",
        metadata={"help": "run_downstream options, as one quoted string (default: probe the frozen upstream on "
                          "cached features; '' fine-tunes it)."})
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2],
                             metadata={"help": "Repeat every arm (pre-training and each task) with each seed."})
    reference_arm: str | None = field(default=None, metadata={
        "help": "The arm every other arm is compared with (default: the longest fixed duration)."})


def arms_of(args: SweepArguments) -> list[dict]:
    arms = [{"name": f"{d:g}s", "max_duration": d} for d in args.durations]
    for text in args.duration_schedules:
        schedule = DurationSchedule.parse(text)
        arms.append({"name": f"curriculum-{schedule.slug()}", "max_duration": schedule.longest, "schedule": text})
    return arms


def budget_options(args: SweepArguments) -> list[str]:
    if args.budget == "steps":
        return ["--max_train_steps", str(args.max_train_steps)]
    if args.budget == "audio_hours":
        if args.budget_audio_hours is None:
            raise UsageError("--budget audio_hours needs --budget_audio_hours H.")
        return ["--max_train_audio_hours", str(args.budget_audio_hours)]
    if args.budget_flops is None:
        raise UsageError("--budget flops needs --budget_flops F (e.g. 1e15).")
    return ["--max_train_flops", str(args.budget_flops)]


def launch(args: SweepArguments, module_args: list[str]) -> list[str]:
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    if args.accelerate_config:
        command += ["--config_file", args.accelerate_config]
    return command + ["-m", "hf_seqlen.cli", *module_args]


def pretrain_job(args: SweepArguments, arm: dict, seed: int, out: Path) -> list[str] | None:
    """The command that (re)starts this arm's pre-training, or None when it already finished."""
    if (out / "costs.json").is_file():
        return None
    options = ["pretrain", "--output_dir", str(out), "--seed", str(seed), *budget_options(args)]
    options += ["--duration_schedule", arm["schedule"]] if arm.get("schedule") else ["--max_duration", f"{arm['max_duration']:g}"]
    if any(out.glob("checkpoint-*/progress.json")):
        options += ["--resume_from_checkpoint", "latest"]
    elif out.exists():
        options += ["--overwrite_output_dir"]
    return launch(args, options + shlex.split(args.pretrain_args))


def downstream_job(args: SweepArguments, upstream: Path, task: str, seed: int, out: Path) -> list[str] | None:
    if (out / "results.json").is_file():
        return None
    options = ["downstream", "--task", task, "--model_name_or_path", str(upstream), "--output_dir", str(out),
               "--seed", str(seed)]
    if args.downstream_max_steps is not None:
        options += ["--max_steps", str(args.downstream_max_steps)]
    return launch(args, options + shlex.split(args.downstream_args))


class JobFailed(RuntimeError):
    """A pre-training or fine-tuning job of the sweep exited non-zero."""


def run_job(name: str, command: list[str] | None, log_file: Path) -> None:
    if command is None:
        logger.info("%s: finished earlier, skipped", name)
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    logger.info("%s: running (log: %s)", name, log_file)
    with open(log_file, "a") as log:
        log.write("$ " + shlex.join(command) + "\n")
        log.flush()
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode
    if code != 0:
        tail = "".join(log_file.read_text().splitlines(keepends=True)[-15:])
        raise JobFailed(f"{name} failed (exit {code}); the end of {log_file}:\n{tail}\n"
                           "Fix the cause and rerun the same sweep command: finished jobs are kept.")


def sweep(args: SweepArguments) -> list[dict]:
    if not args.durations and not args.duration_schedules:
        raise UsageError("give at least one of --durations or --duration_schedules.")
    if not args.seeds or len(set(args.seeds)) != len(args.seeds):
        raise UsageError("--seeds needs one or more distinct integers, e.g. --seeds 0 1 2.")
    budget_options(args)  # fail on a missing budget before any job starts
    root = Path(args.output_dir)
    arms = arms_of(args)
    if args.reference_arm and args.reference_arm not in [arm["name"] for arm in arms]:
        raise UsageError(f"--reference_arm {args.reference_arm} is not an arm of this sweep "
                         f"(arms: {', '.join(arm['name'] for arm in arms)}).")
    for seed in args.seeds:
        for arm in arms:
            runs, name = seed_dir(root, arm["name"], seed), f"{arm['name']} seed {seed}"
            run_job(f"{name} pre-training", pretrain_job(args, arm, seed, runs / "pretrain"), runs / "pretrain.log")
            for task in args.tasks:
                run_job(f"{name} {task}", downstream_job(args, runs / "pretrain", task, seed, runs / task),
                        runs / f"{task}.log")
    rows = write_report(root, arms, args.tasks, args.seeds, args.reference_arm, args.budget)
    write_card_sections(root, rows, args.tasks, args.seeds)
    logger.info("report: %s (%d arms, %d seeds)", root / "report.md", len(rows), len(args.seeds))
    return rows


def main(argv: list[str] | None = None) -> int:
    from .cli import run_reporting_user_errors

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    (args,) = parse_dataclasses(SweepArguments, argv, prog="hf-seqlen sweep")
    try:
        return run_reporting_user_errors(lambda: sweep(args))
    except JobFailed as error:
        print(f"hf_seqlen sweep: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
