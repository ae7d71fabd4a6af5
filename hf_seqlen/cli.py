"""Entry points: run_pretrain.py, run_downstream.py and the `hf-seqlen` command. They alone own the process:
each configures logging and turns a user's mistake into one clear line and an exit status; the library raises.
Each command's module is imported when the command runs, so `hf-seqlen --help` stays quick."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from .corpus.audio import BadAudioError
from .corpus.sources import DataSourceError
from .cpu_threads import use_available_cores
from .option_parsing import OptionParser, UsageError, error_line
from .pretrain.checkpoints import CheckpointDiskFull
from .publishing.push import PushError, push_command

# Errors a user can cause and fix; anything else is a bug and keeps its traceback.
USER_ERRORS = (
    UsageError,
    DataSourceError,
    BadAudioError,
    FileNotFoundError,
    FloatingPointError,
    PushError,
    CheckpointDiskFull,
)


def configure_logging() -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)


def run_reporting_user_errors(job: Callable[[], object]) -> int:
    try:
        job()
    except USER_ERRORS as error:
        kind = "bad audio" if isinstance(error, BadAudioError) else "error"
        print(error_line(error, kind), file=sys.stderr)
        return 2 if isinstance(error, UsageError) else 1
    return 0


def pretrain_main(argv: list[str] | None = None) -> int:
    from .pretrain.args import parse_args
    from .pretrain.loop import pretrain

    def job():
        model_args, data_args, train_args = parse_args(argv)
        use_available_cores()
        pretrain(model_args, data_args, train_args)

    configure_logging()
    return run_reporting_user_errors(job)


def downstream_main(argv: list[str] | None = None) -> int:
    from .downstream import downstream, parse_args

    def job():
        args, training_args = parse_args(argv)
        use_available_cores()
        downstream(args, training_args)

    configure_logging()
    return run_reporting_user_errors(job)


def push_main(argv: list[str] | None = None) -> int:
    configure_logging()
    return run_reporting_user_errors(lambda: push_command(argv))


def sweep_main(argv: list[str] | None = None) -> int:
    from .study.sweep import JobFailed, parse_args, sweep

    configure_logging()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        # Probes may run in this process, through the same entry point a launch would start.
        return run_reporting_user_errors(lambda: sweep(parse_args(argv), downstream_here=downstream_main))
    except JobFailed as error:
        print(f"hf_seqlen sweep: {error}", file=sys.stderr)
        return 1


def recommend_main(argv: list[str] | None = None) -> int:
    from .study.recommend import parse_args, print_recommendation

    configure_logging()
    return run_reporting_user_errors(lambda: print_recommendation(parse_args(argv)))


def demo_corpus_main(argv: list[str] | None = None) -> int:
    from .corpus.demo_maker import main as demo_corpus

    configure_logging()
    return run_reporting_user_errors(lambda: demo_corpus(argv))


COMMANDS = {
    "pretrain": pretrain_main,
    "downstream": downstream_main,
    "push": push_main,
    "sweep": sweep_main,
    "recommend": recommend_main,
    "demo-corpus": demo_corpus_main,
}


# What each command does, as `hf-seqlen --help` lists them.
SUMMARIES = {
    "pretrain": "pre-train wav2vec 2.0 on crops of --max_duration seconds (run_pretrain.py)",
    "downstream": "fine-tune a checkpoint on a task, or probe it (--freeze_upstream), and score it (run_downstream.py)",
    "push": "publish a finished pre-training or downstream output folder to the Hugging Face Hub",
    "sweep": "the study: pre-train at several lengths and seeds, probe each, report cost and quality",
    "recommend": "suggest a pre-training length for a task, from its audio's durations or a sweep's report",
    "demo-corpus": "synthesise the demo corpus with espeak-ng (the large one has held-out voices to test on)",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    width = max(map(len, SUMMARIES))
    parser = OptionParser(
        prog="hf-seqlen",
        description="Sequence-length-aware wav2vec 2.0 pre-training, publishing, downstream tasks and study.",
        epilog="commands:\n" + "\n".join(f"  {name:<{width}}  {text}" for name, text in SUMMARIES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "command", choices=list(COMMANDS), help="what to run; `hf-seqlen COMMAND --help` for its options"
    )
    known, rest = parser.parse_known_args(argv[:1])
    return COMMANDS[known.command](rest + argv[1:])


if __name__ == "__main__":
    sys.exit(main())
