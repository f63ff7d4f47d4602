"""kadtk 1.1.0's PaSST and PANNs embeddings (``--model passt-base-10s`` ... ``panns-wavegram-logmel``) against
kadtk's own code, on random weights in the official formats.

kadtk runs as written: ``EmbeddingLoader.cache_embedding_file`` (its ``load_audio`` conversion into
``convert/<sr>/``, the loader's ``load_wav``, ``get_embedding`` with its float16) on copies of the clips, then
``KernelAudioDistance.score(reference, evaluated)``. Offline: ``PANNsModel.load_model`` finds the random-weight file
under the name it would download (its module's ``__file__`` pointed at a temporary folder); ``PaSSTModel.load_model``
builds hear21passt's own wrapper and nets, ``hear21passt.base.get_model_passt`` loading the random-weight release file
of the arch it is asked for instead of downloading it. torchaudio's file I/O goes through libsndfile (the
``fadtk_io`` fixture: torchcodec is not installed).
Ours: the embedder through the pipeline into a cache, then ``python -m metrics kad --protocol fadtk --model NAME`` on
the same folders (reading those embeddings from the cache).

Needs kadtk 1.1.0, hypy_utils and hear21passt (``pip install --no-deps -c constraints.txt kadtk==1.1.0 hypy_utils
hear21passt==0.0.26``); skips naming that command otherwise.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch

from metrics.embedding.embedders import KADTK_PANNS, KADTK_PASST, build, entry
from metrics.embedding.embedders.kadtk_models import SCENE_HOP, kadtk_passt_windows
from metrics.embedding.embedders.wavegram_net import MIN_SAMPLES, WavegramLogmelCnn14
from metrics.embedding.embedders.passt import NETS, WINDOW
from metrics.embedding.weights import REGISTRY
from sa_fixtures.clips import tone, write_wav
from sa_util.audio import AudioError
from tests.metrics.fadtk_loaders import fadtk_io, max_rel, write_clip_sets  # noqa: F401  (the fadtk_io fixture)

INSTALL = "pip install --no-deps -c constraints.txt kadtk==1.1.0 hypy_utils hear21passt==0.0.26"
# (seconds, rate, channels): 0.5 s at 16 kHz, stereo 44.1 kHz, and 12 s (cut to 10 s by the 10 s models)
CLIPS = [(0.5, 16000, 1), (3.0, 44100, 2), (12.0, 32000, 1)]
EMBEDDING_TOL = 2e-3  # of a file's largest value: both sides round to float16, one step may flip
KAD_TOL = 1e-3  # relative
# kadtk's median_pairwise_distance copies its tensor argument with torch.tensor(x), which warns.
pytestmark = pytest.mark.filterwarnings("ignore:To copy construct from a tensor:UserWarning")


def need_kadtk() -> None:
    import importlib.metadata

    try:
        found = {p: importlib.metadata.version(p) for p in ("kadtk", "hypy_utils", "hear21passt")}
    except importlib.metadata.PackageNotFoundError as exc:
        pytest.skip(f"{exc.name} not installed ({INSTALL})")
    if found["kadtk"] != "1.1.0":
        pytest.skip(f"kadtk {found['kadtk']} installed, the parity tests are for 1.1.0 ({INSTALL})")


def weights_name(model: str) -> str:
    return entry(model).weights({"kadtk_model": model})


@pytest.fixture(scope="module")
def clips(module_tmp: Path) -> dict[str, list[str]]:
    """Two sets (evaluated, reference) of CLIPS, the reference a fifth higher."""
    return write_clip_sets(module_tmp / "clips", CLIPS, 220.0, {"evaluated": 1.0, "reference": 1.5})


@pytest.fixture(scope="module")
def long_clips(module_tmp: Path) -> dict[str, list[str]]:
    """The 3 s and 12 s clips of :func:`clips` alone, for the models where every file costs the same (padded to 10 /
    20 / 30 s; 0.3 GB networks)."""
    return write_clip_sets(module_tmp / "long-clips", CLIPS[1:], 220.0, {"evaluated": 1.0, "reference": 1.5})


@pytest.fixture(scope="module")
def weights(module_tmp: Path) -> Callable[[str], Path]:
    """model name -> the weights folder holding its random-weight file (written on first use, 0.3 GB each)."""
    from sa_fixtures.random_weights import write_named

    folder = module_tmp / "weights"

    def get(model: str) -> Path:
        write_named(folder, [weights_name(model)], seed=1)
        return folder
    return get


def offline_get_model_passt(files: dict[str, Path]) -> Callable[..., torch.nn.Module]:
    """hear21passt's ``get_model`` without its download: built with ``pretrained=False``, then the random-weight file
    of its arch loaded strictly through hear21passt's ``checkpoint_filter_fn`` (an arch without a file keeps its
    random init: the 10 s net ``get_basic_model`` builds before kadtk swaps in the variant's)."""
    from hear21passt.models import passt

    def get_model(arch: str = "passt_s_swa_p16_128_ap476", pretrained: bool = True, **kwargs: Any) -> torch.nn.Module:
        net = passt.get_model(arch=arch, pretrained=False, **kwargs)
        if arch in files:
            state = torch.load(files[arch], weights_only=True)
            net.load_state_dict(passt.checkpoint_filter_fn(state, net), strict=True)
        return net
    return get_model


def kadtk_loader(model: str, folder: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """kadtk's ``ModelLoader`` for ``model`` on the CPU, its ``load_model`` run as written, offline."""
    need_kadtk()
    from kadtk import model_loader

    path = folder / REGISTRY[weights_name(model)].filename
    if model in KADTK_PANNS:
        ml = model_loader.PANNsModel(model.removeprefix("panns-"))
        (workdir / ".model-checkpoints").mkdir(parents=True)
        (workdir / ".model-checkpoints" / path.name).symlink_to(path)
        monkeypatch.setattr(model_loader, "__file__", str(workdir / "model_loader.py"))
    else:
        import hear21passt.base

        ml = model_loader.PaSSTModel(model.removeprefix("passt-"))
        files = {NETS[KADTK_PASST[model].weights].arch: path}
        monkeypatch.setattr(hear21passt.base, "get_model_passt", offline_get_model_passt(files))
    ml.device = torch.device("cpu")
    ml.load_model()
    return ml


def kadtk_run(ml: Any, clips: dict[str, list[str]], workdir: Path) -> tuple[dict[str, list[np.ndarray]], float]:
    """kadtk on copies of the sets: per set, each file's cached ``.npy`` (float16 ``[1, D]``), and
    ``KernelAudioDistance.score(reference, evaluated)`` read from those files."""
    from kadtk.emb_loader import EmbeddingLoader
    from kadtk.kad import KernelAudioDistance
    from kadtk.utils import get_cache_embedding_path

    loader = EmbeddingLoader(ml, load_model=False)
    out = {}
    for name, paths in clips.items():
        (workdir / name).mkdir(parents=True)
        copies = [Path(shutil.copy(p, workdir / name / Path(p).name)) for p in paths]
        for c in copies:
            loader.cache_embedding_file(c)
        out[name] = [np.load(get_cache_embedding_path(ml.name, c)) for c in copies]
    kad = KernelAudioDistance(ml, "cpu").score(workdir / "reference", workdir / "evaluated")
    return out, float(kad)


def our_run(model: str, folder: Path, clips: dict[str, list[str]], workdir: Path
            ) -> tuple[dict[str, list[np.ndarray]], float]:
    """Ours: per set, each file's output through the pipeline (cached), then the CLI's KAD reading that cache."""
    from metrics.__main__ import main
    from metrics.embedding.cache import EmbeddingCache
    from metrics.embedding.pipeline import embed_files

    cache = workdir / "cache"
    embedder = build(model, folder / REGISTRY[weights_name(model)].filename, batch_size=3, kadtk_model=model)
    out = {}
    for name, paths in clips.items():
        result = embed_files(embedder, paths, cache=EmbeddingCache(cache), workers=0, files_per_batch=4)
        assert not result.skipped, result.skipped
        out[name] = [result.outputs[p] for p in paths]
    sets = {name: str(Path(paths[0]).parent) for name, paths in clips.items()}
    report = workdir / "kad.json"
    assert main(["kad", "--protocol", "fadtk", "--model", model, "--gen", sets["evaluated"], "--ref",
                 sets["reference"], "--weights-dir", str(folder), "--cache-dir", str(cache), "--fd-bootstrap", "0",
                 "--no-progress", "--out", str(report)]) == 0
    kad = json.loads(report.read_text())["metrics"]["kad"]
    assert kad["dim"] == entry(model).parts({})["embedding"].stop and kad["protocol_metric"]["model"] == model
    return out, float(kad["value"])


SLOW = ("passt-base-20s", "passt-base-30s", "passt-openmic", "passt-fsd50k")  # 9 / 13 windows a file; 0.3 GB files


@pytest.mark.parametrize("model", [pytest.param(m, marks=pytest.mark.slow) if m in SLOW else m
                                   for m in (*KADTK_PASST, *KADTK_PANNS)])
def test_embeddings_and_kad_match_kadtk(model, request, weights, fadtk_io, tmp_path, monkeypatch):  # noqa: F811
    clips = request.getfixturevalue("long_clips" if model in SLOW else "clips")
    ml = kadtk_loader(model, weights(model), tmp_path / "kadtk-model", monkeypatch)
    assert ml.name == model
    theirs, kad_theirs = kadtk_run(ml, clips, tmp_path / "kadtk")
    ours, kad_ours = our_run(model, weights(model), clips, tmp_path / "ours")
    worst = 0.0
    for name in clips:
        for u, v in zip(ours[name], theirs[name]):
            assert u.shape == v.shape == (1, ml.num_features) and v.dtype == np.float16
            worst = max(worst, max_rel(u, v.astype(np.float32)))
    assert worst < EMBEDDING_TOL
    assert abs(kad_ours - kad_theirs) <= KAD_TOL * abs(kad_theirs), (kad_ours, kad_theirs)
    print(f"\n{model} vs kadtk: embeddings max rel {worst:.1e}, KAD {kad_ours:.7g} vs {kad_theirs:.7g} "
          f"(rel {abs(kad_ours - kad_theirs) / abs(kad_theirs):.1e})")


@pytest.mark.parametrize("seconds", [20, 30])
def test_scene_windows_are_hear21passts(seconds):
    """hear21passt's ``get_timestamp_embeddings`` segmentation (the wrapper kadtk builds, a net that returns its
    input) against :func:`kadtk_passt_windows`: the same 10 s windows every 2.5 s of the reflect-padded signal."""
    need_kadtk()
    from hear21passt.wrapper import PasstBasicWrapper

    class Echo(torch.nn.Module):  # [B, 1, W] -> (the window, nothing): mode "all" returns the window itself
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x[:, 0], x[:, 0, :0]

    class NoMel(torch.nn.Identity):  # the wrapper reads its rate from the mel module
        sr = 32000

    x = torch.from_numpy(tone(seconds, 32000, 300, channels=1)[:, 0]) * torch.linspace(0, 1, seconds * 32000)
    theirs, _ = PasstBasicWrapper(NoMel(), Echo()).get_timestamp_embeddings(
        x[None], window_size=WINDOW, hop=SCENE_HOP)
    ours = kadtk_passt_windows(x)
    assert ours.shape == theirs.shape[1:] == (seconds * 2 // 5 + 1, WINDOW)  # 9 or 13 windows
    assert torch.equal(ours, theirs[0])


def test_cnn14_minimum_is_31_hops(module_tmp, weights):
    """The shortest file the kadtk PANNs embedders take is the shortest CNN14 runs on; shorter ones are skipped with
    the reason (kadtk's forward raises on them)."""
    model = "panns-cnn14-16k"
    embedder = build(model, weights(model) / REGISTRY[model].filename, kadtk_model=model)
    shortest = write_wav(module_tmp / "shortest.wav", tone(4960 / 16000, 16000, 500, channels=1), 16000)
    assert embedder.embed([embedder.prepare(str(shortest))])[0].shape == (1, 2048)
    with pytest.raises(RuntimeError):
        embedder.load()(torch.zeros(1, 4959))
    short = write_wav(module_tmp / "short.wav", tone(0.3, 16000, 500, channels=1), 16000)
    with pytest.raises(AudioError, match=r"shorter than PANNs CNN14 \(kadtk\)'s minimum of 0.310 s"):
        embedder.prepare(str(short))


def test_wavegram_minimum_is_10236_samples(module_tmp, weights):
    """The wavegram branch (ceil(T / 5) // 128 frames) is the shorter one below 10236 samples at 32 kHz: the shortest
    file the embedder takes is the shortest kadtk's network runs on; shorter ones are skipped with the reason."""
    need_kadtk()
    from kadtk.models.panns.models import Wavegram_Logmel_Cnn14

    model = "panns-wavegram-logmel"
    theirs = Wavegram_Logmel_Cnn14(32000, 1024, 320, 64, 50, 14000, 527).eval()
    with torch.no_grad():
        assert theirs(torch.zeros(1, MIN_SAMPLES))["embedding"].shape == (1, 2048)
        with pytest.raises(RuntimeError):
            theirs(torch.zeros(1, MIN_SAMPLES - 1))
        with pytest.raises(RuntimeError):
            WavegramLogmelCnn14().eval()(torch.zeros(1, MIN_SAMPLES - 1))
    embedder = build(model, weights(model) / REGISTRY[model].filename, kadtk_model=model)
    shortest = write_wav(module_tmp / "shortest32.wav", tone(MIN_SAMPLES / 32000, 32000, 500, channels=1), 32000)
    assert embedder.embed([embedder.prepare(str(shortest))])[0].shape == (1, 2048)
    short = write_wav(module_tmp / "short32.wav", tone(0.315, 32000, 500, channels=1), 32000)
    with pytest.raises(AudioError, match=r"shorter than PANNs Wavegram-Logmel-CNN14 \(kadtk\)'s minimum of 0.320 s"):
        embedder.prepare(str(short))


def test_wavegram_network_is_kadtks():
    """The network alone against kadtk's ``Wavegram_Logmel_Cnn14`` (eval mode, one state dict) at lengths where the
    two branches' frame counts agree and where kadtk drops the log-mel branch's extra frame."""
    need_kadtk()
    from kadtk.models.panns.models import Wavegram_Logmel_Cnn14

    torch.manual_seed(0)
    ours = WavegramLogmelCnn14().eval()
    theirs = Wavegram_Logmel_Cnn14(32000, 1024, 320, 64, 50, 14000, 527).eval()
    theirs.load_state_dict(ours.state_dict())
    with torch.no_grad():
        for length in (MIN_SAMPLES, 20800, 32000):  # 20800: log-mel 66 frames -> 33, wavegram 4160 -> 32
            x = 0.1 * torch.randn(2, length)
            emb, logits = ours(x)
            ref = theirs(x)
            torch.testing.assert_close(emb, ref["embedding"], rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(torch.sigmoid(logits), ref["clipwise_output"], rtol=1e-5, atol=1e-6)


def test_registry_agrees_with_the_networks_and_the_protocols():
    from metrics import protocols

    assert set(protocols.KADTK_MODELS) == set(KADTK_PASST) | set(KADTK_PANNS)
    for model, spec in KADTK_PASST.items():
        assert NETS[spec.weights].classes == spec.classes, model
    for model, spec in KADTK_PANNS.items():
        embedder = build(model, None, kadtk_model=model)
        assert (embedder.sample_rate, type(embedder).__name__) == (spec.rate, spec.embedder)
    assert KADTK_PANNS["panns-wavegram-logmel"].embedder == "WavegramKadtkEmbedder"
    with pytest.raises(ValueError, match="unknown kadtk PannsKadtkEmbedder model"):
        build("panns-cnn14-32k", None, kadtk_model="panns-wavegram-logmel")
