"""How much each measurement runs: `full` (the committed results), `quick` (a few minutes on two
cores), `smoke` (seconds; checks that the harness works, its numbers mean nothing) and `brief` (time to quality
alone, on one GPU); and for `--gpu`, `gpu` (one GPU, the committed record) and `gpu-tiny` (the same code on a
CPU)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScalingModel:
    config_name: str
    samples_per_batch: int
    batch_seconds: float
    steps: int = 2  # measured steps per point, after the profile's warm-up steps


@dataclass(frozen=True)
class Profile:
    name: str
    warmup_rounds: int = 1  # untimed rounds of every arm before the timed ones
    # data pipeline
    source_seconds: float = 15.0
    source_files: int = 8
    crop_seconds: tuple[float, ...] = (1.0, 2.0, 4.0)
    decode_repeats: int = 7
    loader_workers: tuple[int, ...] = (0, 1, 2)
    loader_batches: int = 20
    loader_repeats: int = 3
    # scaling (one fresh process per point)
    scaling_models: tuple[ScalingModel, ...] = ()
    scaling_durations: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
    scaling_warmup_steps: int = 1
    # overhead: the real loop against bare steps (tiny model, the default run's settings)
    overhead_config: str = "wav2vec2-tiny"
    overhead_logging_steps: int = 10
    # 300 paired rounds: rounds on a 2-core machine spread by about 20 points (interquartile), so the median's
    # 95% interval needs about 250 of them to be narrower than the 5% goal
    overhead_steps: int = 1000  # a multiple of overhead_logging_steps
    overhead_repeats: int = 3  # runs of the loop; every logging interval is one paired round
    # ours against the usual approach (one fresh process per run)
    reference_configs: tuple[str, ...] = ("wav2vec2-tiny",)
    reference_max_duration: float = 2.0
    reference_batch_size: int = 8
    reference_warmup_steps: int = 3
    reference_steps: int = 20
    reference_repeats: int = 3
    # whole processes: run_pretrain.py against the transformers example, start to saved model
    whole_config: str = "wav2vec2-tiny"
    whole_max_duration: float = 2.0
    whole_batch_size: int = 8
    whole_updates: int = 100
    whole_files: int = 200  # per generated corpus
    whole_shapes: tuple[str, ...] = ("mixed", "librispeech")  # corpora compared (benchmarks.corpora.SHAPES)
    whole_repeats: int = 2  # alternating rounds of the two arms
    whole_corpus_hours: tuple[float, ...] = (1.0, 4.0, 16.0)  # time to first update against corpus size
    whole_size_repeats: int = 1
    # Torch threads per run (OMP_NUM_THREADS) for both arms; None: torch's default, a thread per core.
    # On cores other work keeps busy, a thread per core spin-waits on the others and step times swing
    # threefold; one thread each keeps the arms' comparison steady.
    whole_torch_threads: int | None = 1
    # time to quality: the transformers example against run_pretrain.py, probed downstream (fresh processes).
    # Both pre-train ttq_config, which must be a layer-norm, stable-layer-norm encoder: the only kind the example takes.
    ttq_config: str = "wav2vec2-base-layernorm"
    ttq_voices: tuple[int, int, int, int] = (32, 32, 8, 24)  # pre-training, kws train, validation, test (<= 96)
    ttq_long_per_voice: int = 10  # pre-training utterances per voice, 10.5-16 s
    # Each pre-training utterance cut to a length drawn here (None: kept whole): what makes the example affordable
    # on a CPU at every budget.
    ttq_long_seconds: tuple[float, float] | None = None
    ttq_keyword_renditions: int = 2  # per keyword, unknown word and silence, per voice (the large demo corpus's)
    ttq_batch_size: int = 8
    ttq_updates: tuple[int, ...] = (250, 750, 2250)  # the example's updates, one budget point each
    ttq_durations: tuple[float, ...] = (2.0, 4.0)  # crops given the example's counted FLOPs
    ttq_same_updates_durations: tuple[float, ...] = (2.0,)  # crops given the example's number of updates
    ttq_seeds: tuple[int, ...] = (0, 1, 2)
    # The budget the README quotes: pre-trained with these seeds, and the example also run with its README's settings.
    ttq_headline_updates: int = 750
    ttq_headline_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    ttq_probe_args: tuple[str, ...] = ()  # added to the study's default probe
    ttq_torch_threads: int = 1  # per process, as whole_torch_threads; the GPU script raises it
    ttq_jobs: int = 1  # processes at a time (--jobs)


FULL = Profile(
    name="full",
    scaling_models=(
        ScalingModel("wav2vec2-tiny", samples_per_batch=8, batch_seconds=32.0, steps=3),
        # BASE on a CPU takes seconds per audio-second: small batches, one measured step.
        ScalingModel("wav2vec2-base", samples_per_batch=1, batch_seconds=8.0, steps=1),
    ),
    reference_configs=("wav2vec2-tiny", "wav2vec2-small"),
    reference_warmup_steps=2,
    reference_steps=15,
)

QUICK = Profile(
    name="quick",
    source_files=4,
    decode_repeats=5,
    loader_batches=10,
    loader_repeats=2,
    scaling_models=(ScalingModel("wav2vec2-tiny", samples_per_batch=4, batch_seconds=8.0),),
    scaling_durations=(1.0, 2.0, 4.0),
    overhead_steps=40,
    overhead_repeats=1,
    reference_steps=10,
    reference_repeats=2,
    whole_updates=30,
    whole_files=100,
    whole_repeats=1,
    whole_corpus_hours=(1.0, 4.0),
    whole_size_repeats=1,
    ttq_config="wav2vec2-tiny",
    ttq_long_per_voice=3,
    ttq_long_seconds=(6.0, 9.0),
    ttq_updates=(16, 48, 144),
    ttq_headline_updates=48,
)

SMOKE = Profile(
    name="smoke",
    warmup_rounds=0,
    source_seconds=4.0,
    source_files=1,
    crop_seconds=(2.0,),
    decode_repeats=1,
    loader_workers=(0,),
    loader_batches=2,
    loader_repeats=1,
    scaling_models=(ScalingModel("wav2vec2-tiny", samples_per_batch=1, batch_seconds=1.0, steps=1),),
    scaling_durations=(1.0,),
    scaling_warmup_steps=0,
    overhead_logging_steps=1,
    overhead_steps=2,
    overhead_repeats=1,
    reference_max_duration=1.0,
    reference_batch_size=2,
    reference_warmup_steps=0,
    reference_steps=1,
    reference_repeats=1,
    whole_batch_size=2,
    whole_updates=2,
    whole_files=6,
    whole_shapes=("mixed",),
    whole_repeats=1,
    whole_corpus_hours=(0.02,),
    whole_size_repeats=1,
    ttq_config="wav2vec2-tiny",
    ttq_voices=(3, 2, 1, 2),
    ttq_long_per_voice=1,
    ttq_keyword_renditions=1,
    ttq_long_seconds=(6.0, 9.0),
    ttq_batch_size=2,
    ttq_updates=(1, 3),
    ttq_durations=(2.0,),
    ttq_seeds=(0,),
    ttq_headline_updates=3,
    ttq_headline_seeds=(0,),
    ttq_probe_args=("--max_steps", "10"),
)

# Time to quality on one GPU within one run of at most 9 minutes (an estimate until it has run; benchmarks/README.md):
# `bash benchmarks/gpu_time_to_quality.sh`. Only its ttq fields are read.
BRIEF = Profile(
    name="brief",
    # wav2vec2-small stops on non-finite gradients within 8 updates at run_pretrain's learning rate on this corpus
    # (benchmarks/README.md): the brief profile carries the tiny frontier to 1.5 times the quick profile's budgets.
    ttq_config="wav2vec2-tiny",
    ttq_long_per_voice=3,
    ttq_long_seconds=(6.0, 9.0),
    ttq_updates=(24, 72, 216),
    ttq_seeds=(0, 1),
    ttq_headline_updates=72,
    ttq_headline_seeds=(0, 1),
    ttq_probe_args=("--max_steps", "500"),
    ttq_torch_threads=2,
    ttq_jobs=6,
)

PROFILES = {p.name: p for p in (FULL, QUICK, SMOKE, BRIEF)}


@dataclass(frozen=True)
class GpuProfile:
    """`python -m benchmarks --gpu`: the training loop as a user runs it, on one GPU."""

    name: str
    device: str
    config_name: str
    budgets: tuple[tuple[str, float], ...]  # (part, seconds), in the order they run
    # crops in the order measured: the goals' lengths first, so a part that runs out of time keeps them
    crop_seconds: tuple[float, ...] = (2.0, 1.0, 16.0, 4.0, 8.0)
    default_batch_seconds: float = 64.0  # what a GPU user gets without --max_batch_seconds
    # audio per batch tried after the default, doubling; the curve stops where memory runs out or MFU
    # rises by less than curve_min_gain
    larger_batch_seconds: tuple[float, ...] = (128.0, 256.0, 512.0, 1024.0)
    curve_min_gain: float = 0.03
    warmup_updates: int = 3  # the first counts FLOPs, the next compile (when compiling) and tune cudnn
    timed_updates: int = 15  # more than the loader's workers hold prefetched (4 x 2), so their wait shows
    corpus_sources: int = 8  # distinct generated files; hard links make the rest of the corpus
    corpus_files: int = 256
    corpus_file_seconds: float = 128.0  # a multiple of every crop, so chunks are whole
    mixed_precision: str = "bf16"
    matmul_size: int = 8192
    compile_backend: str = "inductor"


# At most 370 s of parts on one H100; with installing wheels, starting Python and writing, about 7 minutes (an
# estimate until a run records its seconds in results/gpu.json). benchmarks/gpu_run.sh holds the call to 8.
GPU = GpuProfile("gpu", "cuda", "wav2vec2-base", budgets=(("curve", 190.0), ("levers", 80.0), ("compile", 100.0)))
# A few minutes on two cores, the numbers meaningless: fp32 (a CPU without bf16 instructions runs bf16
# convolutions some 30x slower) and Dynamo without a backend in place of inductor, whose C++ kernels take
# minutes to compile on a CPU.
GPU_TINY = GpuProfile(
    "gpu-tiny",
    "cpu",
    "wav2vec2-tiny",
    budgets=(("curve", 150.0), ("levers", 150.0), ("compile", 150.0)),
    crop_seconds=(1.0, 0.5),
    default_batch_seconds=2.0,
    larger_batch_seconds=(4.0,),
    curve_min_gain=-1.0,  # always the next point, so the test sees the curve grow
    warmup_updates=2,
    timed_updates=2,
    corpus_sources=2,
    corpus_files=8,
    corpus_file_seconds=4.0,
    mixed_precision="no",
    matmul_size=256,
    compile_backend="eager",
)

GPU_PROFILES = {p.name: p for p in (GPU, GPU_TINY)}
