"""Publishing an output folder to the Hugging Face Hub: during training (--push_to_hub), once a downstream run is
scored (run_downstream.py --push_to_hub), or `hf-seqlen push` (a pre-training or a downstream folder).

--hub_strategy has the meanings transformers' Trainer gives it:
  end         push the model, costs.json and card once, when training ends;
  every_save  push them at every checkpoint (--save_steps) and at the end;
  checkpoint  like every_save, and the newest checkpoint goes to `last-checkpoint/` too, to resume from.
A failed push keeps every local file and says how to push again.

During training a push runs in a thread of its own, so updates go on while it uploads. It uploads
a snapshot (a copy of the published files, hard links to the checkpoint's), because the next save
rewrites the model files and may delete that checkpoint. A failed push is tried again; one still
running when the next save comes lets that save go unpushed (the push after it sends everything).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from huggingface_hub import HfApi, get_token, is_offline_mode

from ..option_parsing import OptionParser, UsageError
from ..pretrain.checkpoints import complete_checkpoints
from .release import (
    DOWNSTREAM_RESULTS_FILE,
    PUBLISHED_FILE,
    RUN_CONFIG_FILE,
    published_repo_id,
    record_publication,
    refresh_card,
    without_machine_paths_in_downstream_files,
)

HUB_STRATEGIES = ("end", "every_save", "checkpoint")
LAST_CHECKPOINT = "last-checkpoint"
# Checkpoints go only as last-checkpoint/ when asked; a probe's feature cache (downstream/feature_cache.py) is
# a local speed-up, large and rebuilt from the upstream, so it is never published, wherever under the folder.
NOT_PUBLISHED = [
    "checkpoint-*",
    ".checkpoint-*",
    ".push-*",
    PUBLISHED_FILE,
    "feature_cache/*",
    "*/features.bin",
    "*/index.json",
]
# Seconds to wait before each new try of a failed push (networks and Hub rate limits recover in minutes).
RETRY_DELAYS_S = (10, 60)

logger = logging.getLogger("hf_seqlen.publishing.push")


class PushError(RuntimeError):
    """Talking to the Hub failed; the message says what failed and how to try again."""


def hub_token(explicit: str | None) -> str:
    """The token to write with: --hub_token, else HF_TOKEN or the stored login. Checked before any work."""
    if is_offline_mode():
        raise UsageError(
            "pushing to the Hub needs the network, but HF_HUB_OFFLINE is set. Unset it, or run without "
            "--push_to_hub and push the finished folder later with `hf-seqlen push OUTPUT_DIR`."
        )
    token = explicit or get_token()
    if not token:
        raise UsageError(
            "no Hugging Face token to push with: pass --hub_token, set HF_TOKEN, or log in once with `hf auth login`."
        )
    return token


def create_repo(model_id: str, token: str, private: bool | None) -> str:
    """Make the repo (or find it) and return its full id, namespace included."""
    try:
        return HfApi(token=token).create_repo(model_id, private=private, exist_ok=True).repo_id
    except Exception as error:  # any failure here means nothing can be pushed; say which and why
        raise PushError(
            f"could not create or reach the Hub repo {model_id!r} ({type(error).__name__}: {error}). "
            "Check the name, the token's write access and the network (HF_ENDPOINT if you use a mirror)."
        ) from error


def push_again_command(output_dir: Path, repo_id: str, with_checkpoint: bool) -> str:
    words = ["hf-seqlen", "push", str(output_dir), "--hub_model_id", repo_id]
    return shlex.join(words + (["--with_last_checkpoint"] if with_checkpoint else []))


def push_with_retries(
    folder: Path, repo_id: str, token: str, message: str, checkpoint: Path | None, output_dir: Path
) -> None:
    """push_output_dir of folder (output_dir or a snapshot of it), tried again after each of RETRY_DELAYS_S."""
    for delay in RETRY_DELAYS_S:
        try:
            return push_output_dir(folder, repo_id, token, message, checkpoint, output_dir)
        except PushError as error:
            logger.warning("%s Trying again in %d s.", error, delay)
            time.sleep(delay)
    push_output_dir(folder, repo_id, token, message, checkpoint, output_dir)


def snapshot(output_dir: Path, checkpoint: Path | None, step: str) -> tuple[Path, Path | None]:
    """What a push sends, frozen: copies of the published files, hard links to the checkpoint's files
    (a checkpoint's files are never rewritten, only deleted, and a link keeps them)."""
    frozen = output_dir / f".push-{step}"
    shutil.rmtree(frozen, ignore_errors=True)
    shutil.copytree(output_dir, frozen, ignore=shutil.ignore_patterns(*NOT_PUBLISHED))
    if checkpoint is None:
        return frozen, None
    linked = shutil.copytree(checkpoint, frozen / checkpoint.name, copy_function=os.link)
    return frozen, Path(linked)


def downstream_snapshot(output_dir: Path) -> Path:
    """What a downstream run's push sends, frozen: hard links to its files (none is rewritten once the run is
    scored) but the feature cache, with results.json and the outcome files made free of this machine's paths."""
    frozen = output_dir / ".push-final"
    shutil.rmtree(frozen, ignore_errors=True)
    shutil.copytree(
        output_dir, frozen, ignore=shutil.ignore_patterns(*NOT_PUBLISHED, "feature_cache"), copy_function=os.link
    )
    without_machine_paths_in_downstream_files(frozen)
    return frozen


def push_snapshot(frozen: Path, repo_id: str, token: str, message: str, checkpoint: Path | None, output_dir: Path):
    """push_with_retries of a snapshot of output_dir, which goes afterwards whatever happened."""
    try:
        push_with_retries(frozen, repo_id, token, message, checkpoint, output_dir)
    finally:
        shutil.rmtree(frozen, ignore_errors=True)


def push_output_dir(
    output_dir: Path,
    repo_id: str,
    token: str,
    message: str,
    checkpoint: Path | None = None,
    named_as: Path | None = None,
) -> None:
    """Upload the published files of output_dir (checkpoints excluded), and `checkpoint` as last-checkpoint/.
    named_as: the run's folder, when output_dir is a snapshot of it (messages name the folder that stays)."""
    named_as = named_as or output_dir
    api = HfApi(token=token)
    try:
        api.upload_folder(
            repo_id=repo_id, folder_path=output_dir, ignore_patterns=NOT_PUBLISHED, commit_message=message
        )
        if checkpoint is not None:
            api.upload_folder(
                repo_id=repo_id,
                folder_path=checkpoint,
                path_in_repo=LAST_CHECKPOINT,
                commit_message=f"{message}: {checkpoint.name} as {LAST_CHECKPOINT}",
            )
    except Exception as error:  # network, permissions, quota...: keep the files, say how to retry
        raise PushError(
            f"pushing {named_as} to the Hub repo {repo_id} failed ({type(error).__name__}: {error}). "
            "Every local file is kept; push again with: "
            f"{push_again_command(named_as, repo_id, with_checkpoint=checkpoint is not None)}"
        ) from error
    record_publication(named_as, repo_id)
    logger.info("pushed %s to %s%s", named_as, repo_id, f" (with {checkpoint.name})" if checkpoint else "")


class HubPublisher:
    """--push_to_hub in the training loop. The repo is made before training, so a bad token or name fails fast."""

    def __init__(self, args, output_dir: Path, is_main_process: bool) -> None:
        self.strategy = args.hub_strategy
        self.output_dir = output_dir
        self.token = hub_token(args.hub_token)
        model_id = args.hub_model_id or output_dir.absolute().name
        self.is_main_process = is_main_process
        self.repo_id = create_repo(model_id, self.token, args.hub_private_repo) if is_main_process else model_id
        self.uploader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-push")
        self.in_flight: Future | None = None
        if is_main_process and output_dir.is_dir():  # snapshots of pushes a stopped run never finished
            for leftover in output_dir.glob(".push-*"):
                shutil.rmtree(leftover, ignore_errors=True)

    @property
    def pushes_every_save(self) -> bool:
        return self.strategy in ("every_save", "checkpoint")

    def push(self, checkpoint: Path, final: bool) -> None:
        """Main process only. Mid-run: starts a push in the background and returns; its failure is logged and
        training goes on. Final: waits for any push in flight, then pushes, and raises a failure."""
        if not self.is_main_process:
            return
        step = checkpoint.name.removeprefix("checkpoint-")
        message = f"{'End of training' if final else 'Training in progress'}, step {step}"
        sent_checkpoint = checkpoint if self.strategy == "checkpoint" else None
        if final:
            if self.in_flight is not None:
                self.in_flight.result()
            self.uploader.shutdown()
            push_with_retries(self.output_dir, self.repo_id, self.token, message, sent_checkpoint, self.output_dir)
            return
        if self.in_flight is not None and not self.in_flight.done():
            logger.info("the push before is still uploading: %s goes to the Hub with the next push", checkpoint.name)
            return
        frozen, frozen_checkpoint = snapshot(self.output_dir, sent_checkpoint, step)
        self.in_flight = self.uploader.submit(self._push_snapshot, frozen, frozen_checkpoint, message)

    def push_downstream_in_background(self, message: str, checkpoint: Path | None = None) -> None:
        """Main process only: the one push of a scored downstream run (downstream_snapshot), started beside what
        the process still has to do; `wait` ends it."""
        if self.is_main_process:
            frozen = downstream_snapshot(self.output_dir)
            self.in_flight = self.uploader.submit(
                push_snapshot,
                frozen,
                repo_id=self.repo_id,
                token=self.token,
                message=message,
                checkpoint=checkpoint,
                output_dir=self.output_dir,
            )

    def wait(self) -> None:
        """Until the push in flight has ended; raises its failure (every local file is kept)."""
        self.uploader.shutdown()
        if self.in_flight is not None:
            self.in_flight.result()

    def _push_snapshot(self, frozen: Path, checkpoint: Path | None, message: str) -> None:
        try:
            push_with_retries(frozen, self.repo_id, self.token, message, checkpoint, self.output_dir)
        except PushError as error:
            logger.warning("%s Training goes on; the next push sends everything again.", error)
        finally:
            shutil.rmtree(frozen, ignore_errors=True)


def parse_push_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = OptionParser(
        prog="hf-seqlen push",
        description="Push a finished output folder to the Hugging Face Hub: a pre-training run's (model, costs.json, "
        "model card) or a downstream run's (model, processor, results.json, per-example outcomes, model card).",
    )
    parser.add_argument("output_dir", type=Path, help="the --output_dir of a finished run")
    parser.add_argument(
        "--hub_model_id", help="user/name or name; default: the run's --hub_model_id, else the folder name"
    )
    parser.add_argument("--hub_private_repo", action="store_true", default=None, help="create the repo private")
    parser.add_argument("--hub_token", help="default: HF_TOKEN or the stored login")
    parser.add_argument(
        "--with_last_checkpoint",
        action="store_true",
        help=f"also push the newest checkpoint-<step>/ as {LAST_CHECKPOINT}/ (to resume from)",
    )
    parser.add_config_option()
    return parser.parse_args(argv)


def is_downstream_output(output_dir: Path) -> bool:
    return (output_dir / DOWNSTREAM_RESULTS_FILE).is_file()


def newest_checkpoint(output_dir: Path) -> Path:
    """The newest complete checkpoint of a pre-training run (checkpoints.py) or of a downstream run's Trainer."""
    if is_downstream_output(output_dir):
        from transformers.trainer_utils import get_last_checkpoint  # here: `hf-seqlen --help` needs no transformers

        found = get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None
        newest = Path(found) if found else None
    else:
        newest = next(reversed(complete_checkpoints(output_dir)), None)
    if newest is None:
        raise FileNotFoundError(f"--with_last_checkpoint: no complete checkpoint in {output_dir}.")
    return newest


def run_model_id(output_dir: Path) -> str | None:
    """The repo a finished folder names: the pre-training run's --hub_model_id, else where it was pushed before."""
    run_config_path = output_dir / RUN_CONFIG_FILE
    recorded = json.loads(run_config_path.read_text()).get("hub_model_id") if run_config_path.is_file() else None
    return recorded or published_repo_id(output_dir)


def push_command(argv: list[str] | None = None) -> None:
    """`hf-seqlen push OUTPUT_DIR`: publish a finished run (or retry a failed push)."""
    args = parse_push_args(argv)
    output_dir: Path = args.output_dir
    downstream = is_downstream_output(output_dir)
    if not downstream and not (output_dir / RUN_CONFIG_FILE).is_file():
        raise FileNotFoundError(
            f"{output_dir} holds neither {RUN_CONFIG_FILE} nor {DOWNSTREAM_RESULTS_FILE}: it is not the output "
            "folder of a finished run. Give the --output_dir of run_pretrain.py or run_downstream.py."
        )
    token = hub_token(args.hub_token)
    model_id = args.hub_model_id or run_model_id(output_dir) or output_dir.absolute().name
    checkpoint = newest_checkpoint(output_dir) if args.with_last_checkpoint else None
    repo_id = create_repo(model_id, token, args.hub_private_repo)
    message = "Upload with hf-seqlen push"
    if downstream:  # its card names no repo of its own: pushed as the run wrote it
        frozen = downstream_snapshot(output_dir)
        try:
            push_output_dir(frozen, repo_id, token, message, checkpoint, named_as=output_dir)
        finally:
            shutil.rmtree(frozen, ignore_errors=True)
    else:
        refresh_card(output_dir, repo_id)
        push_output_dir(output_dir, repo_id, token, message, checkpoint)
    print(f"pushed {output_dir} to {repo_id}")
