"""run_pretrain.py that also prints how many threads torch computes with at each update
(tests/integration/test_cpu_threads.py): the entry point's choice must hold through training, not only in its
log line."""

import sys

import torch

from hf_seqlen.cli import pretrain_main
from hf_seqlen.pretrain import loop as pretrain

update = pretrain.update


def update_saying_threads(run, micro_batches):
    print(f"threads during training: {torch.get_num_threads()}", flush=True)
    return update(run, micro_batches)


if __name__ == "__main__":
    pretrain.update = update_saying_threads
    sys.exit(pretrain_main())
