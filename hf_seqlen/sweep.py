"""The Match-to-Win study in one command: for each sequence length (and length schedule),
pre-train, train every task (probing by default) on that checkpoint, then report cost against quality.

    hf-seqlen sweep --durations 1 2 4 --tasks kws asr --max_train_steps 200 --output_dir study

Every pre-training is a real `accelerate launch` of run_pretrain, and so is every downstream job when the launch
could start several processes (`--accelerate_config`, or a default `accelerate config`), so a sweep runs on many
GPUs unchanged; otherwise downstream jobs run in the sweep's own process. Every arm runs once per seed (`--seeds 0 1 2`), in
`<arm>/seed-<s>/`. A finished (arm, seed, task) job is never redone, so adding a seed runs only the new
jobs; an interrupted pre-training resumes from its last checkpoint. Before any job starts, every job's options
are checked by the parser of its entry point; `--dry_run` stops there and prints the plan (sweep_plan.py).
A recipe file (`--config recipes/NAME.yaml`, recipe.py) holds a whole study's options.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import subprocess
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .args import UsageError
from .demo_corpus_maker import cached_corpus, cached_corpus_folder
from .options import error_line, parse_dataclasses
from .recipe import with_recipe
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
    # kws alone by default: at demo scale the asr probe cannot rank the arms and took 45% of the time; its minutes
    # buy seeds instead, which narrow the comparison (docs/study.md, "Measured: the default sweep").
    tasks: list[str] = field(default_factory=lambda: ["kws"],
                             metadata={"help": "Downstream tasks per arm (kws, asr, sid, er, audio-classification)."})
    data_dir: str | None = field(default=None, metadata={
        "help": "Local corpus (audiofolder layout, a `kind` column for the demo tasks) that pre-training and every "
                "task read. Default: the large demo corpus (2.4 h, 96 voices), made on first use into the cache "
                "($HF_SEQLEN_CACHE or ~/.cache/hf_seqlen). Data named in --pretrain_args or --downstream_args wins."})
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
    task_args: list[str] = field(
        default_factory=list,
        metadata={"help": "run_downstream options of one task only, as 'TASK: OPTIONS' (e.g. 'er: --dataset_name "
                          "NAME --label_column label'); they come after --downstream_args, so they win."},
    )
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4],
                             metadata={"help": "Repeat every arm (pre-training and each task) with each seed."})
    reference_arm: str | None = field(default=None, metadata={
        "help": "The arm every other arm is compared with (default: the longest fixed duration)."})
    config: str | None = field(default=None, metadata={
        "help": "A recipe: a .yaml or .json file of these options (see recipes/); options given beside it win."})
    dry_run: bool = field(default=False, metadata={
        "help": "Check every job's options offline and print the plan (each job's command, the expected cost "
                "where one was measured); run nothing."})


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


DATA_OPTIONS = ("--data_dir", "--dataset_name")


def names_data(extra: list[str]) -> bool:
    return any(word.split("=")[0] in DATA_OPTIONS for word in extra)


def with_data(args: SweepArguments, extra: list[str]) -> list[str]:
    """A job's extra options, led by the sweep's `--data_dir` unless they name their own data."""
    return extra if names_data(extra) else ["--data_dir", args.data_dir, *extra]


def extra_options(args: SweepArguments, task: str | None) -> list[str]:
    """What the user added to a job: --pretrain_args, or --downstream_args and the task's --task_args."""
    if task is None:
        return shlex.split(args.pretrain_args)
    return shlex.split(args.downstream_args) + task_options(args).get(task, [])


def resolve_data_dir(args: SweepArguments) -> bool:
    """A job whose options name no data reads --data_dir, by default the large demo corpus.

    Returns whether that default corpus is read, so the caller makes it once the plan has passed.
    """
    if args.data_dir is not None:
        if not Path(args.data_dir).is_dir():
            raise UsageError(f"--data_dir {args.data_dir}: no such directory.")
        return False
    if all(names_data(extra_options(args, task)) for task in [None, *args.tasks]):
        return False
    args.data_dir = str(cached_corpus_folder("large"))
    return True


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
    return launch(args, options + with_data(args, extra_options(args, None)))


def task_options(args: SweepArguments) -> dict[str, list[str]]:
    """--task_args as {task: options}."""
    from .downstream.args import TASKS

    options = {}
    for text in args.task_args:
        task, colon, rest = text.partition(":")
        if not colon or task.strip() not in TASKS:
            raise UsageError(f"--task_args {text!r}: expected 'TASK: OPTIONS' with TASK one of {', '.join(TASKS)}.")
        options[task.strip()] = shlex.split(rest)
    return options


def downstream_job(args: SweepArguments, upstream: Path, task: str, seed: int, out: Path) -> list[str] | None:
    if (out / "results.json").is_file():
        return None
    options = ["downstream", "--task", task, "--model_name_or_path", str(upstream), "--output_dir", str(out),
               "--seed", str(seed)]
    if args.downstream_max_steps is not None:
        options += ["--max_steps", str(args.downstream_max_steps)]
    return launch(args, options + with_data(args, extra_options(args, task)))


@dataclass
class Job:
    name: str
    arm: dict
    task: str | None  # None: the arm's pre-training
    command: list[str] | None  # None: finished earlier
    log_file: Path


def jobs(args: SweepArguments, arms: list[dict]) -> list[Job]:
    """Every job of the sweep, in the order they run: per seed, per arm, pre-training then each task."""
    planned = []
    for seed in args.seeds:
        for arm in arms:
            runs, name = seed_dir(Path(args.output_dir), arm["name"], seed), f"{arm['name']} seed {seed}"
            planned.append(Job(f"{name} pre-training", arm, None,
                               pretrain_job(args, arm, seed, runs / "pretrain"), runs / "pretrain.log"))
            planned += [Job(f"{name} {task}", arm, task,
                            downstream_job(args, runs / "pretrain", task, seed, runs / task), runs / f"{task}.log")
                        for task in args.tasks]
    return planned


class JobFailed(RuntimeError):
    """A pre-training or fine-tuning job of the sweep exited non-zero."""


def launches_one_process(args: SweepArguments) -> bool:
    """Whether `accelerate launch` would start this sweep's jobs as one plain process: no config named, and no
    default config (`accelerate config`) that could ask for several."""
    from accelerate.commands.config import default_config_file

    return args.accelerate_config is None and not Path(default_config_file).is_file()


@contextlib.contextmanager
def output_to(log) -> Iterator[None]:
    """This process's stdout and stderr, down to the file descriptors (C libraries, loggers), go to `log`."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    for fd in saved:
        os.dup2(log.fileno(), fd)
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):  # where sys.std* are not fds 1, 2
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)


def run_here(command: list[str], log) -> int:
    """A downstream job in the sweep's own process: the same entry point `accelerate launch` would start, without
    two interpreter starts and their imports per job (about 6 s of a 26 s kws probe on 2 cores)."""
    from .cli import downstream_main
    from .sweep_plan import job_options

    # `accelerate launch` runs a CPU process with OMP_NUM_THREADS (1 unless set): the same here, so a probe scores
    # the same in either (another thread count sums in another order, and 3000 steps carry that to the scores).
    threads = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 1)))
    with output_to(log):
        try:
            return downstream_main(job_options(command)[1])
        except Exception:  # the job's failure, reported as a subprocess's would be: in its log, then JobFailed
            traceback.print_exc()
            return 1
        finally:
            torch.set_num_threads(threads)


def run_job(name: str, command: list[str] | None, log_file: Path, here: bool = False) -> None:
    if command is None:
        logger.info("%s: finished earlier, skipped", name)
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    logger.info("%s: running%s (log: %s)", name, " in this process" if here else "", log_file)
    with open(log_file, "a") as log:
        log.write("$ " + shlex.join(command) + "\n")
        log.flush()
        code = run_here(command, log) if here else subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode
    if code != 0:
        tail = "".join(log_file.read_text().splitlines(keepends=True)[-15:])
        raise JobFailed(f"{name} failed (exit {code}); the end of {log_file}:\n{tail}\n"
                           "Fix the cause and rerun the same sweep command: finished jobs are kept.")


def sweep(args: SweepArguments) -> list[dict]:
    from .sweep_plan import check_jobs, print_plan

    if not args.durations and not args.duration_schedules:
        raise UsageError("give at least one of --durations or --duration_schedules.")
    if not args.seeds or len(set(args.seeds)) != len(args.seeds):
        raise UsageError("--seeds needs one or more distinct integers, e.g. --seeds 0 1 2.")
    budget_options(args)  # fail on a missing budget before any job starts
    reads_default_corpus = resolve_data_dir(args)
    root = Path(args.output_dir)
    arms = arms_of(args)
    if args.reference_arm and args.reference_arm not in [arm["name"] for arm in arms]:
        raise UsageError(f"--reference_arm {args.reference_arm} is not an arm of this sweep "
                         f"(arms: {', '.join(arm['name'] for arm in arms)}).")
    planned = jobs(args, arms)
    parsed = check_jobs(planned, args.config)  # a mistyped option of the last task fails now, not after days of pre-training
    if args.dry_run:
        print_plan(args, arms, planned, parsed)
        return []
    if reads_default_corpus:
        cached_corpus("large", log=logger.info)
    # Probes run in this process when a launch would start one plain process anyway; pre-training always launches,
    # so it can be stopped, checkpointed and resumed as a process of its own.
    one_process = launches_one_process(args)
    for job in planned:
        run_job(job.name, job.command, job.log_file, here=one_process and job.task is not None)
    rows = write_report(root, arms, args.tasks, args.seeds, args.reference_arm, args.budget)
    write_card_sections(root, rows, args.tasks, args.seeds)
    logger.info("report: %s (%d arms, %d seeds)", root / "report.md", len(rows), len(args.seeds))
    return rows


def main(argv: list[str] | None = None) -> int:
    from .cli import run_reporting_user_errors

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        argv = with_recipe(argv, SweepArguments)
    except UsageError as error:
        print(error_line(error), file=sys.stderr)
        return 2
    (args,) = parse_dataclasses(SweepArguments, argv, prog="hf-seqlen sweep")
    try:
        return run_reporting_user_errors(lambda: sweep(args))
    except JobFailed as error:
        print(f"hf_seqlen sweep: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
