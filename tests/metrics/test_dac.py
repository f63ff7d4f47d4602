"""dac-44kHz as fadtk 1.1.0 computes it (``DACModel``), on a random-weight DAC 44.1 kHz ``.pth`` that
descript-audio-codec itself writes (``DAC().save(path, package=False)``: the released file's format).

* The encoder port (:mod:`metrics.embedding.embedders.dac_net`) against ``dac``'s own ``DAC.encoder`` loaded from the
  same file.
* The loudness port (:mod:`metrics.files.loudness`) against audiotools' ``AudioSignal.loudness`` / ``normalize`` /
  ``ensure_max_of_audio``; the windows against ``zero_pad_to`` + ``collect_windows``.
* The embedder against fadtk's own ``DACModel``: its ``load_model`` (``dac.utils.load_model(tag='latest',
  model_type='44khz')``, the download pointed at the random file), its audio conversion, ``load_wav``
  (``AudioSignal``), ``_get_embedding`` and float16, per file; then FAD through fadtk's statistics and KAD through
  kadtk's.
Needs descript-audio-codec 1.0.0 and descript-audiotools 0.7.2 (:data:`tests.metrics.fadtk_loaders.DAC_INSTALL`);
the fadtk comparison also fadtk 1.1.0 and kadtk 1.1.0.
"""
from __future__ import annotations

import importlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from metrics.embedding.embedders.dac import HOP, WINDOW, DacEmbedder, collect_windows, normalise
from metrics.embedding.embedders.dac_net import load_dac_encoder
from metrics.files.loudness import loudness
from sa_fixtures.clips import tone, write_wav
from tests.metrics.fadtk_loaders import (DAC_INSTALL, embed_side_by_side, fadtk_io, max_rel, need,  # noqa: F401
                                         side_by_side_distances, write_clip_sets)

SR = 44100
# (seconds, rate, channels) of the reference set's tones; the evaluated set is a click train and a 7 s tone
REFERENCE_CLIPS = [(3.0, 44100, 1), (3.0, 22050, 2)]


def need_dac() -> None:
    """Skip with the install command unless descript-audio-codec and descript-audiotools import."""
    need("descript-audio-codec", "1.0.0", DAC_INSTALL)
    need("descript-audiotools", "0.7.2", DAC_INSTALL)
    for module in ("audiotools", "dac"):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            pytest.skip(f"{module} does not import ({exc}; {DAC_INSTALL})")


@pytest.fixture(scope="module")
def dac_file(module_tmp: Path) -> Path:
    need_dac()
    from sa_fixtures.random_weights import write_named

    return write_named(module_tmp / "weights", ["dac-44khz"])["dac-44khz"]


def signal(x: np.ndarray, rate: int):
    """``[C, T]`` as an audiotools ``AudioSignal`` ``[1, C, T]``."""
    from audiotools import AudioSignal

    return AudioSignal(torch.from_numpy(np.ascontiguousarray(x, np.float32))[None], rate)


def clicks(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    """``[C, T]``: a sparse click train over faint noise; at -16 LUFS its peaks exceed 1 (``ensure_max_of_audio``)."""
    rng = np.random.default_rng(3)
    x = 0.002 * rng.standard_normal((channels, int(seconds * rate)))
    x[:, ::rate // 10] = 0.9
    return x.astype(np.float32)


def test_the_file_dac_writes_is_read_with_weights_only(dac_file):
    raw = torch.load(dac_file, map_location="cpu", weights_only=True)
    assert set(raw) == {"state_dict", "metadata"} and raw["metadata"]["kwargs"]["latent_dim"] == 1024


def test_encoder_port_matches_the_package(dac_file):
    from dac import DAC

    ours, theirs = load_dac_encoder(dac_file), DAC.load(str(dac_file)).eval().encoder
    gen = torch.Generator().manual_seed(1)
    for n in (512, 4097, 44100 + 17):
        x = 0.3 * torch.randn(2, 1, n, generator=gen)
        with torch.no_grad():
            a, b = ours(x), theirs(x)
        assert a.shape == b.shape and a.shape[:2] == (2, 1024) and max_rel(a.numpy(), b.numpy()) < 1e-5, n
        print(f"\nDAC encoder, {n} samples: max rel {max_rel(a.numpy(), b.numpy()):.1e}")


def test_the_light_test_model_is_read_as_the_package_reads_it(tmp_path):
    """The narrower random DAC the pipeline tests run (``write_named(..., light=True)``): its width is read from the
    file's kwargs, as ``DAC.load`` reads it, with the release's geometry (1024-d latent, hop 512)."""
    need_dac()
    from dac import DAC

    from sa_fixtures.random_weights import write_named

    path = write_named(tmp_path, ["dac-44khz"], light=True)["dac-44khz"]
    ours, theirs = load_dac_encoder(path), DAC.load(str(path)).eval().encoder
    assert ours.block[0].weight_v.shape[0] == 8
    x = 0.3 * torch.randn(1, 1, WINDOW, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    assert a.shape == b.shape == (1, 1024, 430) and max_rel(a.numpy(), b.numpy()) < 1e-5


def loudness_cases() -> list[tuple[str, np.ndarray, int]]:
    rng = np.random.default_rng(0)
    half = np.concatenate([np.zeros(3 * SR), 0.5 * rng.standard_normal(3 * SR)])[None]  # gating: half silence
    envelope = np.sin(np.linspace(0, 9, 7 * SR)) ** 4  # blocks from loud to far below the relative gate
    return [("0.1 s, padded to 0.5 s", 0.1 * rng.standard_normal((1, SR // 10)), SR),
            ("gated", half, SR), ("stereo", 0.05 * rng.standard_normal((2, 2 * SR)) * envelope[:2 * SR], SR),
            ("envelope", 0.3 * rng.standard_normal((1, 7 * SR)) * envelope, SR),
            ("below -70 LUFS", 1e-5 * rng.standard_normal((1, SR)), SR),
            ("16 kHz", 0.2 * rng.standard_normal((1, 16000 * 2)), 16000), ("clicks", clicks(0.5, SR), SR)]


@pytest.mark.parametrize("name, x, rate", loudness_cases(), ids=[c[0] for c in loudness_cases()])
def test_loudness_and_normalisation_match_audiotools(name, x, rate):
    """BS.1770 loudness within 1e-4 LU of audiotools' float32 meter; the -16 LUFS, peak <= 1 signal within 1e-5
    of its largest sample."""
    need_dac()
    ours, theirs = loudness(x, rate), float(signal(x, rate).loudness()[0])
    assert abs(ours - theirs) < 1e-4, (ours, theirs)
    line = f"\n{name}: {ours:.6f} vs {theirs:.6f} LUFS"
    if rate == SR and x.shape[0] == 1:
        reference = signal(x, rate).normalize(-16.0).ensure_max_of_audio().audio_data[0, 0].numpy()
        rel = max_rel(normalise(x[0].astype(np.float32)), reference)
        assert rel < 1e-5
        assert name != "clicks" or np.abs(reference).max() == pytest.approx(1.0)  # ensure_max_of_audio scaled it
        line += f", normalised signal max rel {rel:.1e}"
    print(line)


@pytest.mark.parametrize("n", [1, 1000, WINDOW - 1, WINDOW, WINDOW + 1, 3 * WINDOW + 7])
def test_windows_match_audiotools(n):
    """fadtk's ``zero_pad_to(ceil(duration / 5 s) * 5 s)`` and ``collect_windows(5 s, 2.5 s)``, sample for sample."""
    need_dac()
    x = np.random.default_rng(n).standard_normal((1, n)).astype(np.float32)
    s = signal(x, SR)
    win = WINDOW / SR  # fadtk's arithmetic, in seconds
    s.zero_pad_to(int(math.ceil(s.signal_duration / win) * win * SR))
    theirs = s.collect_windows(win, win * 0.5).audio_data[:, 0].numpy()
    ours = collect_windows(torch.from_numpy(x[0])).numpy()
    assert ours.shape == theirs.shape == (2 * -(-n // WINDOW) + 1, WINDOW) and HOP == WINDOW // 2
    assert np.array_equal(ours, theirs)


def write_evaluated(folder: Path) -> list[str]:
    """A 0.5 s click train (22.05 kHz mono; its peaks exceed 1 at -16 LUFS) and a 7 s stereo tone at 44.1 kHz (two
    5 s windows before the edges: five windows)."""
    return [str(write_wav(folder / "clicks.wav", clicks(0.5, 22050).T, 22050)),
            str(write_wav(folder / "tone.wav", tone(7.0, SR, 330.0, 2, seed=5), SR))]


@pytest.fixture(scope="module")
def light_dac_file(module_tmp: Path) -> Path:
    """The width-8 random DAC of the release geometry (:func:`test_the_light_test_model_is_read_as_the_package_reads_it`)."""
    need_dac()
    from sa_fixtures.random_weights import write_named

    return write_named(module_tmp / "light", ["dac-44khz"], light=True)["dac-44khz"]


def test_embeddings_and_distances_match_fadtk(light_dac_file, module_tmp, fadtk_io, tmp_path, monkeypatch):  # noqa: F811
    """fadtk's whole DACModel path (loudness, windows, conversion, float16, FAD/KAD statistics) on 28 windows of 5 s,
    through the width-8 DAC (the release width's 28 windows cost minutes here; its encoder is checked against the
    package above)."""
    dac_file = light_dac_file
    need("fadtk", "1.1.0")
    need("hypy_utils")
    import dac.utils
    from fadtk.model_loader import DACModel

    monkeypatch.setattr(dac.utils, "download", lambda **kwargs: dac_file)  # load_model's cache, pre-filled
    ml = DACModel()
    ml.load_model()
    ml.model, ml.device = ml.model.cpu(), torch.device("cpu")
    want = torch.load(dac_file, weights_only=True)["state_dict"]
    assert all(torch.equal(v, want[k]) for k, v in ml.model.state_dict().items())  # DAC.load is not strict
    clips = {"evaluated": write_evaluated(module_tmp / "evaluated"),
             **write_clip_sets(module_tmp, REFERENCE_CLIPS, 220.0, {"reference": 1.0})}
    ours, theirs = embed_side_by_side(DacEmbedder(dac_file, batch_size=4), ml, clips, tmp_path)
    fad_ours, fad_theirs, kad_ours, kad_theirs = side_by_side_distances(ours, theirs, tmp_path)
    assert fad_theirs > 0 and abs(fad_ours - fad_theirs) / fad_theirs < 2e-4, (fad_ours, fad_theirs)
    assert abs(kad_ours - kad_theirs) / abs(kad_theirs) < 2e-4, (kad_ours, kad_theirs)
    assert [len(o) for o in ours["evaluated"]] == [3 * 430, 5 * 430]
    unrounded = float32_difference(dac_file, ml, clips["evaluated"][0], tmp_path / "evaluated")
    assert unrounded < 1e-5
    worst = max(max_rel(u, v) for n in ours for u, v in zip(ours[n], theirs[n]))
    print(f"\ndac-44kHz vs fadtk: embeddings max rel {worst:.1e} (float32, before fadtk's float16: {unrounded:.1e}), "
          f"FAD {fad_ours:.6g} vs {fad_theirs:.6g} (rel {abs(fad_ours - fad_theirs) / fad_theirs:.1e}), "
          f"KAD {kad_ours:.6g} vs {kad_theirs:.6g} (rel {abs(kad_ours - kad_theirs) / abs(kad_theirs):.1e})")


def float32_difference(dac_file: Path, ml, path: str, workdir: Path) -> float:
    """Max relative difference of one file's frames before the float16 rounding: ours (``float16=False``) against
    fadtk's ``_get_embedding`` on the file fadtk converted (``convert/44100/`` under ``workdir``)."""
    with torch.no_grad():
        theirs = ml._get_embedding(ml.load_wav(workdir / "convert" / str(SR) / Path(path).name)).numpy()
    emb = DacEmbedder(dac_file, batch_size=4, float16=False)
    return max_rel(emb.embed([emb.prepare(path)])[0], theirs)


def test_a_foreign_or_other_dac_file_is_one_line(tmp_path):
    path = tmp_path / "weights_44khz_8kbps_0.0.1.pth"
    torch.save({"encoder.block.0.bias": torch.zeros(64)}, path)
    with pytest.raises(ValueError, match="not a DAC checkpoint"):
        load_dac_encoder(path)
    kwargs = {"encoder_dim": 64, "encoder_rates": [2, 4, 5, 8], "latent_dim": None, "sample_rate": 24000}
    torch.save({"state_dict": {"decoder.model.0.bias": torch.zeros(1)}, "metadata": {"kwargs": kwargs}}, path)
    with pytest.raises(ValueError, match="not the 44.1 kHz model"):
        load_dac_encoder(path)
