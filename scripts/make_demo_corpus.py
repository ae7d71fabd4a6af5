#!/usr/bin/env python
"""Rebuild the small demo corpus shipped in hf_seqlen/demo_corpus/ (see hf_seqlen/corpus/demo_maker.py).

    python scripts/make_demo_corpus.py --overwrite

The committed files were made with Debian's espeak-ng; the pip library (espeakng-loader) gives
slightly different audio for some clips, so a rebuild changes them: commit it only on purpose.
"""

import sys

from hf_seqlen.cli import demo_corpus_main
from hf_seqlen.corpus.sources import DEMO_CORPUS

if __name__ == "__main__":
    sys.exit(demo_corpus_main(["--size", "small", "--output_dir", str(DEMO_CORPUS), *sys.argv[1:]]))
