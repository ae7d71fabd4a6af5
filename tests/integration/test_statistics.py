"""The coverage grids of the study's intervals on simulated studies, but for the one cell of each that
tests/unit/test_statistics.py runs: deterministic (fixed seeds), about half a minute for the seed grid on 2 cores
and 3 s a cell of the speaker grid."""

import pytest

from simulated_studies import assert_intervals_cover_a_seed_effect, assert_intervals_cover_speaker_effects

SEED_CELLS = [
    (seed_sd, seeds, shift)
    for seed_sd in (0.0, 0.05, 0.10)
    for seeds in (2, 3, 5)
    for shift in (0.0, 0.05)
    if (seed_sd, seeds, shift) != (0.10, 2, 0.05)
]
SPEAKER_CELLS = [(seed_sd, seeds) for seed_sd in (0.02, 0.05) for seeds in (3, 5) if (seed_sd, seeds) != (0.02, 5)]


@pytest.mark.parametrize("seed_sd, seeds, shift", SEED_CELLS)
def test_intervals_cover_the_truth_95_percent_of_the_time_with_a_seed_effect(seed_sd, seeds, shift):
    assert_intervals_cover_a_seed_effect(seed_sd, seeds, shift)


@pytest.mark.parametrize("seed_sd, seeds", SPEAKER_CELLS)
def test_intervals_over_speakers_cover_the_truth_with_speaker_and_arm_by_speaker_effects(seed_sd, seeds):
    assert_intervals_cover_speaker_effects(seed_sd, seeds)
