#!/usr/bin/env python
"""Fine-tune (or probe) a pre-trained wav2vec 2.0 checkpoint on a downstream task and report its metrics.

python run_downstream.py --task kws --model_name_or_path outputs/wav2vec2-pretrain-2s --output_dir kws-2s
python run_downstream.py --help
"""

import sys

from hf_seqlen.cli import downstream_main

if __name__ == "__main__":
    sys.exit(downstream_main())
