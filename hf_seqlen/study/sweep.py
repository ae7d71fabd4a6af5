"""The Match-to-Win study in one command: for each sequence length (and length schedule),
pre-train, train every task (probing by default) on that checkpoint, then report cost against quality.

    hf-seqlen sweep --durations 1 2 4 --tasks kws asr --max_train_steps 200 --output_dir study

Every pre-training is a real `accelerate launch` of run_pretrain, and so is every downstream job unless the launch
would start one process on at most one device (no `--accelerate_config`, no default `accelerate config`, at most
one GPU), so a sweep runs on many GPUs unchanged; otherwise the command line runs downstream jobs in the sweep's own
process. Every arm runs once per
seed (`--seeds 0 1 2`), in `<arm>/seed-<s>/`. A finished (arm, seed, task) job is never redone, so adding a seed
runs only the new jobs; an interrupted pre-training resumes from its last checkpoint. Each job is a `Job` value
(job.py) until it runs; before any job starts, every job's options are checked by the parser of its entry point,
and `--dry_run` stops there and prints the plan (plan.py). A recipe file (`--config recipes/NAME.yaml`,
recipe.py) holds a whole study's options. The guide: docs/study.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shlex
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import accelerate.commands.config as accelerate_config
import accelerate.commands.launch as accelerate_launch
import torch

from ..corpus.demo_maker import cached_corpus, cached_corpus_folder
from ..downstream.task_table import TASKS
from ..option_parsing import UsageError, parse_dataclasses
from .arm import Arm
from .budgets import BUDGETS
from .card import write_card_sections
from .job import Job, Setting, launch, merged, setting, settings_from_words
from .plan import check_jobs, print_plan
from .recipe import with_recipe
from .report import check_reference_arm, seed_dir, write_report

logger = logging.getLogger("hf_seqlen.study.sweep")


@dataclass
class SweepArguments:
    output_dir: str = field(metadata={"help": "Where every run and the report go."})
    durations: list[float] = field(
        default_factory=lambda: [1.0, 2.0, 4.0],
        metadata={"help": "Pre-training length of each arm, in seconds (run_pretrain's --max_duration)."},
    )
    duration_schedules: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Curriculum arms, e.g. '1:0.5,2:0.3,8:0.2' (duration:share of the budget, short first; "
            "run_pretrain's --duration_schedule)."
        },
    )
    # kws alone by default: at demo scale the asr probe cannot rank the arms and took 45% of the time; its minutes
    # buy seeds instead, which narrow the comparison (docs/measurements/default-sweep.md).
    tasks: list[str] = field(
        default_factory=lambda: ["kws"],
        metadata={"help": "Downstream tasks per arm (kws, asr, sid, er, audio-classification)."},
    )
    data_dir: str | None = field(
        default=None,
        metadata={
            "help": "Local corpus (audiofolder layout, a `kind` column for the demo tasks) that pre-training and every "
            "task read. Default: the large demo corpus (2.4 h, 96 voices), made on first use into the cache "
            "($HF_SEQLEN_CACHE or ~/.cache/hf_seqlen). Data named in --pretrain_args or --downstream_args wins."
        },
    )
    budget: str = field(
        default="steps",
        metadata={
            "help": "What is equal across arms: "
            + ", ".join(f"{name} (--{sweep_budget.option})" for name, sweep_budget in BUDGETS.items())
            + ".",
            "choices": list(BUDGETS),
        },
    )
    max_train_steps: int = field(
        default=200,
        metadata={"help": "Pre-training updates per arm, with --budget steps (run_pretrain's --max_train_steps)."},
    )
    max_train_audio_hours: float | None = field(
        default=None,
        metadata={
            "help": "Audio hours fed per arm, with --budget audio_hours (run_pretrain's --max_train_audio_hours)."
        },
    )
    max_train_flops: float | None = field(
        default=None,
        metadata={"help": "Training FLOPs per arm, with --budget flops (run_pretrain's --max_train_flops)."},
    )
    downstream_max_steps: int | None = field(
        default=None,
        metadata={
            "help": "Training steps per task (run_downstream's --max_steps; default: run_downstream's for the task)."
        },
    )
    accelerate_config: str | None = field(default=None, metadata={"help": "Config file for every `accelerate launch`."})
    pretrain_args: str = field(default="", metadata={"help": "More run_pretrain options, as one quoted string."})
    # Probing ranks upstreams for the least CPU time; measured in docs/measurements/downstream-protocol.md.
    downstream_args: str = field(
        default="--freeze_upstream",
        metadata={
            "help": "run_downstream options, as one quoted string (default: probe the frozen upstream on cached "
            "features; '' fine-tunes it); they come after --downstream_max_steps, so they win."
        },
    )
    task_args: list[str] = field(
        default_factory=list,
        metadata={
            "help": "run_downstream options of one task only, as 'TASK: OPTIONS' (e.g. 'er: --dataset_name NAME "
            "--label_column label'); they come after --downstream_args, so they win."
        },
    )
    seeds: list[int] = field(
        default_factory=lambda: [0, 1, 2, 3, 4],
        metadata={"help": "Repeat every arm (pre-training and each task) with each seed."},
    )
    reference_arm: str | None = field(
        default=None,
        metadata={"help": "The arm every other arm is compared with (default: the longest fixed duration)."},
    )
    config: str | None = field(
        default=None,
        metadata={
            "help": "A recipe: a .yaml or .json file of these options (see recipes/); options given beside it win."
        },
    )
    dry_run: bool = field(
        default=False,
        metadata={
            "help": "Check every job's options offline and print the plan (each job's command, the expected cost "
            "where one was measured); run nothing."
        },
    )


def parse_args(argv: list[str]) -> SweepArguments:
    """The sweep's options: its --config recipe's, then those typed beside it."""
    (args,) = parse_dataclasses(SweepArguments, with_recipe(argv, SweepArguments), prog="hf-seqlen sweep")
    return args


def arms_of(args: SweepArguments) -> list[Arm]:
    """The sweep's arms, in the report's order: each fixed duration, then each schedule."""
    return [*map(Arm.fixed, args.durations), *map(Arm.curriculum, args.duration_schedules)]


def budget_settings(args: SweepArguments) -> list[Setting]:
    """The sweep's budget as the run_pretrain option of the same name."""
    sweep_budget = BUDGETS[args.budget]
    value = getattr(args, sweep_budget.option)
    if value is None:
        raise UsageError(f"--budget {args.budget} needs --{sweep_budget.option} {sweep_budget.value_name}.")
    return [setting(sweep_budget.option, value)]


DATA_OPTIONS = ("data_dir", "dataset_name")


def names_data(settings: list[Setting]) -> bool:
    return any(name in DATA_OPTIONS for name, _ in settings)


def with_data(args: SweepArguments, extra: list[Setting]) -> list[Setting]:
    """A job's extra settings, led by the sweep's `--data_dir` unless they name their own data."""
    return extra if names_data(extra) else [setting("data_dir", args.data_dir), *extra]


def task_settings(args: SweepArguments) -> dict[str, list[Setting]]:
    """--task_args as {task: settings}."""
    settings = {}
    for text in args.task_args:
        task, colon, rest = text.partition(":")
        if not colon or task.strip() not in TASKS:
            raise UsageError(f"--task_args {text!r}: expected 'TASK: OPTIONS' with TASK one of {', '.join(TASKS)}.")
        settings[task.strip()] = settings_from_words(shlex.split(rest), f"--task_args {task.strip()}")
    return settings


def extra_settings(args: SweepArguments, task: str | None) -> list[Setting]:
    """What the user added to a job: --pretrain_args, or --downstream_args then the task's --task_args."""
    if task is None:
        return settings_from_words(shlex.split(args.pretrain_args), "--pretrain_args")
    downstream = settings_from_words(shlex.split(args.downstream_args), "--downstream_args")
    return list(merged(downstream, task_settings(args).get(task, [])))


def with_default_data(args: SweepArguments) -> tuple[SweepArguments, bool]:
    """The arguments with --data_dir resolved: a job whose settings name no data reads --data_dir, by default the
    large demo corpus. Also whether that default corpus is read, so the caller makes it once the plan has passed."""
    if args.data_dir is not None:
        if not Path(args.data_dir).is_dir():
            raise UsageError(f"--data_dir {args.data_dir}: no such directory.")
        return args, False
    if all(names_data(extra_settings(args, task)) for task in [None, *args.tasks]):
        return args, False
    return dataclasses.replace(args, data_dir=str(cached_corpus_folder("large"))), True


def pretrain_job(args: SweepArguments, arm: Arm, seed: int, out: Path) -> Job | None:
    """The job that (re)starts this arm's pre-training, or None when it already finished."""
    if (out / "costs.json").is_file():
        return None
    length = (
        setting("duration_schedule", arm.schedule) if arm.schedule else setting("max_duration", f"{arm.max_duration:g}")
    )
    if any(out.glob("checkpoint-*/progress.json")):
        restart = [setting("resume_from_checkpoint", "latest")]
    else:
        restart = [setting("overwrite_output_dir")] if out.exists() else []
    sweep = [setting("output_dir", out), setting("seed", seed), *budget_settings(args), length, *restart]
    return Job("pretrain", merged(sweep, with_data(args, extra_settings(args, None))))


def downstream_job(args: SweepArguments, upstream: Path, task: str, seed: int, out: Path) -> Job | None:
    """The job that trains and tests `task` on the upstream, or None when it already finished."""
    if (out / "results.json").is_file():
        return None
    sweep = [
        setting("task", task),
        setting("model_name_or_path", upstream),
        setting("output_dir", out),
        setting("seed", seed),
    ]
    if args.downstream_max_steps is not None:
        sweep.append(setting("max_steps", args.downstream_max_steps))
    return Job("downstream", merged(sweep, with_data(args, extra_settings(args, task))))


@dataclass
class PlannedJob:
    name: str
    arm: Arm
    task: str | None  # None: the arm's pre-training
    job: Job | None  # None: finished earlier
    log_file: Path


def planned_jobs(args: SweepArguments, arms: list[Arm]) -> list[PlannedJob]:
    """Every job of the sweep, in the order they run: per seed, per arm, pre-training then each task."""
    planned = []
    for seed in args.seeds:
        for arm in arms:
            runs, name = seed_dir(Path(args.output_dir), arm.name, seed), f"{arm.name} seed {seed}"
            planned.append(
                PlannedJob(
                    f"{name} pre-training",
                    arm,
                    None,
                    pretrain_job(args, arm, seed, runs / "pretrain"),
                    runs / "pretrain.log",
                )
            )
            planned += [
                PlannedJob(
                    f"{name} {task}",
                    arm,
                    task,
                    downstream_job(args, runs / "pretrain", task, seed, runs / task),
                    runs / f"{task}.log",
                )
                for task in args.tasks
            ]
    return planned


class JobFailed(RuntimeError):
    """A pre-training or fine-tuning job of the sweep exited non-zero."""


def launches_one_process(args: SweepArguments) -> bool:
    """Whether `accelerate launch` would start this sweep's jobs as one process on at most one device, as a job run
    in this process does. Not with a config, named or the default one (`accelerate config`): its settings (processes,
    mixed precision, devices) reach launched processes only. Without one, accelerate starts a process per GPU (or
    other accelerator) it finds; its own launch check decides here, as it would for the launch."""
    if args.accelerate_config is not None or Path(accelerate_config.default_config_file).is_file():
        return False
    launch_logger = logging.getLogger(accelerate_launch.__name__)
    level = launch_logger.level
    launch_logger.setLevel(logging.ERROR)  # the defaults it warns of are a launch's to report, in the job's log
    try:
        checked, _, _ = accelerate_launch._validate_launch_command(
            accelerate_launch.launch_command_parser().parse_args(["--module", "hf_seqlen.cli"])
        )
    finally:
        launch_logger.setLevel(level)
    return not checked.multi_gpu and checked.num_processes <= 1  # accelerate 1.0 counts 0 GPUs as 0 processes


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


# An entry point run in this process: its command-line arguments in, its exit status out (cli.downstream_main).
EntryPoint = Callable[[list[str]], int]


def run_here(job: Job, log, entry_point: EntryPoint) -> int:
    """A job in the sweep's own process: the entry point `accelerate launch` would start, without two interpreter
    starts and their imports per job (about 6 s of a 26 s kws probe on 2 cores)."""
    # The entry point sets torch's threads as a launched probe's does (`cpu_threads.choose_threads`: the sweep's
    # OMP_NUM_THREADS if set, else every core), so a probe scores the same in either: another thread count sums in
    # another order, and 3000 steps carry that to the scores. The sweep gets its own count back afterwards.
    threads = torch.get_num_threads()
    with output_to(log):
        try:
            return entry_point(job.arguments())
        except Exception:  # the job's failure, reported as a subprocess's would be: in its log, then JobFailed
            traceback.print_exc()
            return 1
        finally:
            torch.set_num_threads(threads)


def run_job(planned: PlannedJob, accelerate_config: str | None, here: EntryPoint | None = None) -> None:
    """Run one planned job, launched as a process or, given `here`, through that entry point in this process."""
    if planned.job is None:
        logger.info("%s: finished earlier, skipped", planned.name)
        return
    log_file = planned.log_file
    log_file.parent.mkdir(parents=True, exist_ok=True)
    logger.info("%s: running%s (log: %s)", planned.name, " in this process" if here else "", log_file)
    command = launch(planned.job, accelerate_config)
    with open(log_file, "a") as log:
        log.write("$ " + shlex.join(command) + "\n")
        log.flush()
        code = (
            run_here(planned.job, log, here)
            if here
            else subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode
        )
    if code != 0:
        tail = "".join(log_file.read_text().splitlines(keepends=True)[-15:])
        raise JobFailed(
            f"{planned.name} failed (exit {code}); the end of {log_file}:\n{tail}\n"
            "Fix the cause and rerun the same sweep command: finished jobs are kept."
        )


@dataclass
class SweepPlan:
    args: SweepArguments  # with --data_dir resolved
    arms: list[Arm]
    jobs: list[PlannedJob]
    parsed: dict  # {job name: its options as its entry point parsed them}
    makes_default_corpus: bool


def checked_plan(args: SweepArguments) -> SweepPlan:
    """Every job of the sweep with its options checked by its entry point's parser, before any job starts."""
    if not args.durations and not args.duration_schedules:
        raise UsageError("give at least one of --durations or --duration_schedules.")
    if not args.seeds or len(set(args.seeds)) != len(args.seeds):
        raise UsageError("--seeds needs one or more distinct integers, e.g. --seeds 0 1 2.")
    budget_settings(args)  # fail on a missing budget before any job starts
    args, makes_default_corpus = with_default_data(args)
    arms = arms_of(args)
    check_reference_arm(args.reference_arm, [arm.name for arm in arms])
    planned = planned_jobs(args, arms)
    parsed = check_jobs(
        planned, args.config
    )  # a mistyped option of the last task fails now, not after days of pre-training
    return SweepPlan(args, arms, planned, parsed, makes_default_corpus)


def sweep(args: SweepArguments, downstream_here: EntryPoint | None = None) -> list[dict]:
    """Run the study and write its report. `downstream_here`: the downstream entry point to run probes with in
    this process where a launch would start one plain process anyway; without it every job is launched.
    Pre-training always launches, so it can be stopped, checkpointed and resumed as a process of its own."""
    checked = checked_plan(args)
    args = checked.args
    if args.dry_run:
        print_plan(args, checked.arms, checked.jobs, checked.parsed)
        return []
    if checked.makes_default_corpus:
        cached_corpus("large", log=logger.info)
    here = downstream_here if launches_one_process(args) else None
    for planned in checked.jobs:
        run_job(planned, args.accelerate_config, here if planned.task is not None else None)
    root = Path(args.output_dir)
    rows = write_report(
        root, checked.arms, args.tasks, args.seeds, reference_arm=args.reference_arm, budget=args.budget
    )
    write_card_sections(root, rows, args.tasks, args.seeds)
    logger.info("report: %s (%d arms, %d seeds)", root / "report.md", len(rows), len(args.seeds))
    return rows
