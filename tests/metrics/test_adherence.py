import numpy as np
import pytest

from benchmarks.synthcaps_data import NOTES, SR, combos, items, render
from metrics.scores.adherence import cents, pitch_of, position_of, stereo_balance, yin_f0
from metrics.scores.timing import detect_end


@pytest.mark.parametrize("freq", [65.0, 110.0, 261.63, 523.25, 1000.0])
def test_yin_on_pure_and_harmonic_tones(freq):
    t = np.arange(int(0.3 * SR)) / SR
    assert abs(cents(yin_f0(np.sin(2 * np.pi * freq * t), SR), freq)) < 5
    saw = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, 8))
    assert abs(cents(yin_f0(saw, SR), freq)) < 5


def test_noise_has_no_pitch():
    assert np.isnan(yin_f0(np.random.default_rng(0).standard_normal(SR // 2), SR))


def test_ground_truth_scores_are_near_perfect():
    test = items("test", 60, seed=0)
    pitch_ok, pos_ok, timing_err = [], [], []
    for it in test:
        a = render(it)
        if it.freq:
            pitch_ok.append(abs(cents(pitch_of(a, SR), it.freq)) <= 50)
        pos_ok.append(position_of(stereo_balance(a)) == it.pan)
        timing_err.append(abs(detect_end(a, SR) - it.seconds))
    assert np.mean(pitch_ok) == 1.0 and np.mean(pos_ok) == 1.0 and max(timing_err) < 0.1


def test_corrupted_audio_scores_drop():
    test = [it for it in items("test", 60, seed=0) if it.freq][:20]
    shifted = swapped = 0
    for it in test:
        a = render(it)
        # a semitone and a half up (resampled), and left/right swapped
        n = a.shape[1]
        up = np.stack([np.interp(np.arange(n) * 2 ** (1.5 / 12), np.arange(n), ch) for ch in a])
        shifted += abs(cents(pitch_of(up, SR), it.freq)) <= 50
        swapped += position_of(stereo_balance(a[::-1])) == it.pan
    centre = sum(it.pan == "centre" for it in test)
    assert shifted == 0 and swapped == centre  # only centred items survive a swap


def test_splits_share_no_caption():
    from benchmarks.synthcaps_data import caption

    train = {caption(*c) for c in combos("train")}
    test = {caption(*c) for c in combos("test")}
    assert train and test and not train & test
    assert {it.caption for it in items("test", 50)} <= test
    assert all(it.note in NOTES or it.source == "drum pattern" for it in items("train", 50))
