import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from metrics.scores.timing import detect_end, frame_db, last_run_end, timing_errors, timing_summary

SR = 44100


def signal(segments, total_s, noise_db=None, seed=0):
    """Stereo ``[2, T]``: noise-like content in each (start, end) segment, silence (or a noise floor) elsewhere."""
    rng = np.random.default_rng(seed)
    x = np.zeros((2, int(total_s * SR)))
    for start, end in segments:
        a, b = int(start * SR), int(end * SR)
        x[:, a:b] = 0.3 * np.sin(2 * np.pi * 330 * np.arange(b - a) / SR) + 0.05 * rng.standard_normal((2, b - a))
    if noise_db is not None:
        x += rng.standard_normal(x.shape) * 10 ** (noise_db / 20)
    return x


@pytest.mark.parametrize("end", [1.0, 4.2, 7.5, 9.9])
def test_clean_silence(end):
    assert detect_end(signal([(0, end)], 10), SR) == pytest.approx(end, abs=0.05)


@pytest.mark.parametrize("noise_db", [-80, -60, -45])
def test_noise_floor(noise_db):
    assert detect_end(signal([(0, 5.0)], 10, noise_db), SR) == pytest.approx(5.0, abs=0.05)


def test_pause_inside_content_does_not_end_it():
    assert detect_end(signal([(0, 2.0), (2.8, 6.0)], 10), SR) == pytest.approx(6.0, abs=0.05)


def test_click_in_the_tail_is_ignored():
    x = signal([(0, 3.0)], 10)
    x[:, int(8 * SR):int(8 * SR) + 40] = 0.9
    assert detect_end(x, SR) == pytest.approx(3.0, abs=0.05)


def test_content_to_the_end_returns_length():
    assert detect_end(signal([(0, 10.0)], 10), SR) == pytest.approx(10.0, abs=1e-6)


def test_late_start_and_mono():
    x = signal([(2.0, 6.0)], 8)[:1]
    assert detect_end(x, SR) == pytest.approx(6.0, abs=0.05)


def test_summary():
    errors = timing_errors([10.0, 9.2, 12.0, 5.0], [10.0, 10.0, 10.0, 5.5])
    s = timing_summary(errors)
    assert s["mae_s"] == pytest.approx((0 + 0.8 + 2 + 0.5) / 4)
    assert s["within_1s"] == 0.75 and s["within_0.5s"] == 0.5
    assert s["bias_s"] == pytest.approx((0 - 0.8 + 2 - 0.5) / 4)


# -- content that fills a small part of the window, playback level, floors ---------------------

@pytest.mark.parametrize("dur,total", [(0.3, 10.0), (1.0, 47.0), (2.0, 47.0)])
def test_short_sound_in_a_long_window(dur, total):
    assert detect_end(signal([(0.5, 0.5 + dur)], total), SR) == pytest.approx(0.5 + dur, abs=0.03)


@pytest.mark.parametrize("noise_db", [None, -70])
def test_same_end_at_any_gain(noise_db):
    x = signal([(0.2, 1.2), (2.0, 3.3)], 6, noise_db).astype(np.float32)
    ends = [detect_end((x * np.float32(10 ** (g / 20))), SR) for g in (0, -20, -40, -60, -100)]
    assert max(ends) - min(ends) < 1e-9 and ends[0] == pytest.approx(3.3, abs=0.03)


def test_floor_40_db_under_a_quiet_sound():
    # content at -50 dBFS over hiss at -90 dBFS: only the relation between the two matters
    assert detect_end(signal([(0, 2.0)], 8, -63) * 10 ** (-40 / 20), SR) == pytest.approx(2.0, abs=0.03)


def test_quiet_intro_does_not_set_the_floor():
    x = signal([(1.0, 5.0)], 8, -75)
    x[:, int(1.0 * SR):int(2.5 * SR)] *= 10 ** (-30 / 20)  # 1.5 s intro 30 dB down
    assert detect_end(x, SR) == pytest.approx(5.0, abs=0.03)


def test_clicks_louder_than_the_content_are_ignored():
    x = signal([(0, 1.0)], 10, -70)
    for at in (3.0, 6.5, 9.99):
        x[:, int(at * SR):int(at * SR) + 60] = 1.0
    assert detect_end(x, SR) == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000, 192000])
def test_any_rate(rate):
    rng = np.random.default_rng(rate)
    t = np.arange(int(3.0 * rate)) / rate
    x = np.where(t < 1.7, np.sin(2 * np.pi * 220 * t), 0.0) + 10 ** (-55 / 20) * rng.standard_normal(len(t))
    assert detect_end(np.stack([x, 0.5 * x]), rate) == pytest.approx(1.7, abs=0.03)


# -- documented limits (metrics/scores/timing.py docstring, those marked *) ------------------------------------------------

def test_limit_a_floor_under_025_s_is_not_seen():
    # the file is sound but for its last 0.15 s of hiss and holds no other quiet stretch: reads as the file length
    assert detect_end(signal([(0, 4.85)], 5, -50), SR) == pytest.approx(5.0, abs=1e-6)
    assert detect_end(signal([(0, 4.5)], 5, -50), SR) == pytest.approx(4.5, abs=0.03)


def test_limit_a_floor_20_db_under_the_content_is_sound():
    assert detect_end(signal([(0, 2.0)], 5, -33), SR) == pytest.approx(5.0, abs=1e-6)  # hiss 20 dB under the tone


def test_limit_a_soft_steady_sound_at_the_end_reads_as_floor():
    x = signal([(0, 2.0)], 4)
    x[:, 2 * SR:] = 10 ** (-35 / 20) * 0.3 * np.sin(2 * np.pi * 200 * np.arange(2 * SR) / SR)
    assert detect_end(x, SR) == pytest.approx(2.0, abs=0.03)


def test_limit_one_floor_per_file():
    x = signal([(1.0, 2.0)], 4, -60)
    x[:, :SR] = 0.0  # digital silence first: the hiss of the tail counts as sound
    assert detect_end(x, SR) == pytest.approx(4.0, abs=1e-6)


# -- any input: no NaN, no crash -------------------------------------------------------------------------------------

def test_degenerate_inputs():
    assert detect_end(np.zeros((2, SR)), SR) == 0.0
    assert detect_end(np.zeros((2, 0)), SR) == 0.0
    assert detect_end(np.zeros((1, 1)), SR) == 0.0
    assert detect_end(np.full((1, 1), 0.5), SR) == pytest.approx(1 / SR)
    assert detect_end(np.ones(100), SR) == pytest.approx(100 / SR)  # [T] is mono
    click = np.zeros((2, SR))
    click[:, 1000:1010] = 1.0
    assert detect_end(click, SR) == 0.0  # only a click: no sustained sound


def test_extreme_values_give_the_same_end():
    x = signal([(0, 1.3)], 3, -70)
    ref = detect_end(x, SR)
    assert ref == pytest.approx(1.3, abs=0.03)
    assert detect_end(x * 1e300, SR) == ref  # squares would overflow
    assert detect_end(x * 1e-300, SR) == ref  # denormal
    assert detect_end((x * 2000).astype(np.int16), SR) == pytest.approx(ref, abs=0.012)
    y = x.copy()
    y[0, 100] = np.nan
    y[1, 200] = np.inf
    assert 0.0 <= detect_end(y, SR) <= 3.0


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="sample_rate"):
        detect_end(np.zeros((1, 10)), 0)
    with pytest.raises(ValueError, match="shape"):
        detect_end(np.zeros((1, 2, 10)), SR)


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 2), st.integers(0, 3000)),
              elements=st.floats(allow_nan=True, allow_infinity=True, width=64)),
       st.sampled_from([8000, 44100, 192000]))
def test_fuzz_any_samples(x, rate):
    end = detect_end(x, rate)
    assert np.isfinite(end) and 0.0 <= end <= x.shape[-1] / rate + 1e-12


# -- pieces ---------------------------------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.lists(st.booleans(), max_size=60), st.integers(1, 8))
def test_last_run_end_matches_a_loop(active, min_len):
    expected, run = -1, 0
    for i, a in enumerate(active):
        run = run + 1 if a else 0
        if run >= min_len:
            expected = i
    assert last_run_end(np.array(active, bool), min_len) == expected


@pytest.mark.parametrize("frame,hop", [(2048, 512), (1000, 300), (7, 7)])
def test_frame_db_is_the_rms_of_each_frame(frame, hop):
    x = np.random.default_rng(0).standard_normal((2, 9001)) * [[1.0], [0.1]]
    db = frame_db(x, frame, hop)
    for f in (0, 3, len(db) - 1):
        window = x[:, f * hop:f * hop + frame]
        assert db[f] == pytest.approx(10 * np.log10((window ** 2).mean(-1).max()), abs=1e-9)

