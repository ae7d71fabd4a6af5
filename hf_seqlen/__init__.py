"""hf_seqlen: compute-efficient wav2vec 2.0 pre-training by choosing the sequence length."""

__version__ = "0.1.0"
