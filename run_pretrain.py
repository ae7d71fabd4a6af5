#!/usr/bin/env python
"""Pre-train wav2vec 2.0 on audio cropped to --max_duration seconds.

accelerate launch run_pretrain.py --max_duration 2
accelerate launch run_pretrain.py --help
"""

import sys

from hf_seqlen.cli import pretrain_main

if __name__ == "__main__":
    sys.exit(pretrain_main())
