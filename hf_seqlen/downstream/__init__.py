"""Fine-tune or probe a pre-trained wav2vec 2.0 upstream on a downstream task (see run.py)."""

from .args import DownstreamArguments, parse_args
from .run import downstream

__all__ = ["DownstreamArguments", "downstream", "parse_args"]
