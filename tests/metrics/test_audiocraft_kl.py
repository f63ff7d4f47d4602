"""audiocraft's KL (``audiocraft/metrics/kld.py``, ``PasstKLDivergenceMetric(pretrained_length=20)``) against our
``kl-segments`` metric of the ``audiocraft`` preset, on the same files.

The reference is audiocraft 1.3.0's own ``kld.py`` and ``data/audio_utils.py`` (``pip install --no-deps
audiocraft==1.3.0 julius torchmetrics lightning-utilities``). ``import audiocraft`` runs the package ``__init__``,
which imports PyAV, xformers and spaCy (pinned to torch 2.1); those two files import none of that, so the test loads
them under empty ``audiocraft``, ``audiocraft.data`` and ``audiocraft.metrics`` package shells (nothing of audiocraft
is replaced). hear21passt's ``base20sec.get_basic_model``,
which would download the release weights, returns hear21passt's own model with the random-weight file instead.
Float32 on the CPU: kld_pq and kld_qp agree to 1e-4 relative (measured: 6e-6 and 1e-5).
"""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from metrics.embedding.embedders.passt import AUDIOCRAFT_MIN, audiocraft_segments, build_passt
from metrics.files.sinc_resample import resample_sinc
from metrics.plan import RunConfig
from metrics.run import run
from sa_fixtures.clips import tone, write_wav

INSTALL = "pip install --no-deps audiocraft==1.3.0 julius torchmetrics lightning-utilities"
SR = 32000


def test_segments_are_split_unpadded_and_short_ones_dropped():
    def lengths(n):
        return [len(s) for s in audiocraft_segments(torch.zeros(n), 20 * SR)]

    assert lengths(25 * SR) == [20 * SR, 5 * SR]
    assert lengths(20 * SR + AUDIOCRAFT_MIN) == [20 * SR]  # 4800 samples: dropped (audiocraft keeps > 4800)
    assert lengths(20 * SR + AUDIOCRAFT_MIN + 1) == [20 * SR, AUDIOCRAFT_MIN + 1]
    assert lengths(AUDIOCRAFT_MIN) == []


@pytest.mark.parametrize("rates", [(44100, 32000), (48000, 32000), (16000, 32000), (22050, 32000), (32000, 32000)])
def test_sinc_resampler_equals_julius(rates):
    julius = pytest.importorskip("julius", reason=f"reference absent: {INSTALL}")
    x = torch.randn(2, 33333, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(resample_sinc(x, *rates), julius.resample_frac(x, *rates), rtol=0, atol=1e-6)


@pytest.fixture
def kld_module():
    """audiocraft's ``metrics/kld.py`` (and ``data/audio_utils.py``) without the package ``__init__``s
    (:func:`benchmarks.metric_peers.audiocraft_kld_module`)."""
    from benchmarks import metric_peers as peers

    try:
        return peers.audiocraft_kld_module()
    except peers.ReferenceMissing as exc:
        pytest.skip(str(exc))


# id -> (seconds, rate, channels): 21 s gives a 20 s and a 1 s segment; generated and reference of one id share
# their length and rate (audiocraft's update takes one size and rate per pair)
ITEMS = {"a": (21.0, 44100, 2), "b": (0.5, 48000, 1)}


@pytest.mark.slow  # a 345 MB random PaSST and audiocraft's own code: the locked suite only
def test_kld_both_directions_match_audiocraft(kld_module, passt20_checkpoint, tmp_path, monkeypatch):
    passt20 = passt20_checkpoint
    import hear21passt.base20sec

    for side, shift in (("gen", 0), ("ref", 37)):
        for k, (i, (seconds, sr, ch)) in enumerate(ITEMS.items()):
            write_wav(tmp_path / side / f"{i}.wav", tone(seconds, sr, 200 + 130 * k + shift, channels=ch, seed=k), sr)
    ours = run(RunConfig(gen=tmp_path / "gen", ref=tmp_path / "ref", protocol="audiocraft",
                         metrics=("kl-segments",), passt_weights=passt20, cache_dir=None, bootstrap=10,
                         progress=False), strict=True)["metrics"]

    monkeypatch.setattr(hear21passt.base20sec, "get_basic_model", lambda **kw: build_passt(passt20, 20))
    metric = kld_module.PasstKLDivergenceMetric(pretrained_length=20)
    for i, (seconds, sr, ch) in ITEMS.items():  # one pair per update: each its own [1, C, T] batch
        gen, _ = sf.read(str(tmp_path / "gen" / f"{i}.wav"), dtype="float32", always_2d=True)
        ref, _ = sf.read(str(tmp_path / "ref" / f"{i}.wav"), dtype="float32", always_2d=True)
        metric.update(torch.from_numpy(gen.T.copy())[None], torch.from_numpy(ref.T.copy())[None],
                      torch.tensor([len(gen)]), torch.tensor([sr]))
    want = metric.compute()
    assert ours["kld_pq"]["n_segments"] == 3 == int(metric.weight)  # a: 2 segments, b: 1
    for key in ("kld_pq", "kld_qp"):
        print(f"{key}: ours {ours[key]['value']:.8g}, audiocraft {want[key]:.8g}")
        assert ours[key]["value"] == pytest.approx(want[key], rel=1e-4)
    assert ours["kld_pq"]["value"] != pytest.approx(ours["kld_qp"]["value"], rel=1e-3), "the directions differ"


def test_pairs_are_segments_and_the_mean_is_over_pairs():
    from metrics.scores.evaluate import segment_kl_result

    rng = np.random.default_rng(0)
    p = {k: rng.dirichlet(np.ones(5), size=n) for k, n in (("g1", 3), ("r1", 3), ("g2", 1), ("r2", 2))}
    gen, ref = {"x": p["g1"], "y": p["g2"]}, {"x": p["r1"], "y": p["r2"]}

    def kl(a, b):  # KL(a || b + eps), one pair
        return float((a * (np.log(a) - np.log(b + 1e-6))).sum())

    res = segment_kl_result(gen, ref, ["x", "y", "z"], forward=False, eps=1e-6, n_boot=0)
    pairs = [kl(ref["x"][k], gen["x"][k]) for k in range(3)] + [kl(ref["y"][0], gen["y"][0])]
    assert res["value"] == pytest.approx(np.mean(pairs)) and res["n_segments"] == 4 and res["n"] == 2
    assert res["per_item"]["x"] == pytest.approx(np.mean(pairs[:3]))
    assert res["left_out"] == {"z": "no generated output"} and "shorter" in res["note"]
    forward = segment_kl_result(gen, ref, ["x"], forward=True, eps=1e-6, n_boot=0)
    assert forward["value"] == pytest.approx(np.mean([kl(gen["x"][k], ref["x"][k]) for k in range(3)]))
