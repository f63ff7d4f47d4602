"""Random-weight evaluator files written in the *official* formats, for tests and the offline demo.

They exercise exactly the loading code real weights go through (Keras .h5 read positionally, PaSST ``.pt`` state
dict, laion_clap checkpoint with ``module.`` prefixes and ``position_ids``, a RoBERTa tokenizer folder). Numbers
computed with them mean nothing beyond "the pipeline runs and agrees with the reference packages".
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

from metrics.embedding.embedders.openl3 import OpenL3Net
from metrics.embedding.weights import REGISTRY
from sa_fixtures.random_codecs import write_encodec_th, write_mert_folder

_SPECIALS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}


def _randomise_batchnorm(model: nn.Module, rng: np.random.Generator) -> None:
    """Non-trivial BN statistics, so a port that ignores them would be caught."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.5, c).astype(np.float32)))
            m.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, c).astype(np.float32)))
            m.weight.data.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, c).astype(np.float32)))
            m.bias.data.copy_(torch.from_numpy(rng.normal(0, 0.1, c).astype(np.float32)))


def random_openl3(seed: int = 0) -> OpenL3Net:
    torch.manual_seed(seed)
    net = OpenL3Net()
    with torch.no_grad():
        _randomise_batchnorm(net, np.random.default_rng(seed))
    return net.eval()


def write_openl3_h5(path: Path, net: OpenL3Net) -> None:
    """Save ``net`` as Keras 2 ``save_weights`` does for openl3_audio_mel256_*.h5 (channels_last kernels, layer
    groups named like the official file, weight-less layers listed with empty ``weight_names``)."""
    import h5py

    names: list[str] = ["input_1"]
    groups: dict[str, list[tuple[str, np.ndarray]]] = {"input_1": []}
    counters = {"conv2d": 0, "batch_normalization": 0, "activation": 0, "max_pooling2d": 0}
    weighted = [m for m in net.body]
    for i, m in enumerate(weighted):
        if isinstance(m, nn.Conv2d):
            counters["conv2d"] += 1
            last = i == len(weighted) - 1
            name = "audio_embedding_layer" if last else f"conv2d_{counters['conv2d']}"
            groups[name] = [("kernel:0", m.weight.detach().permute(2, 3, 1, 0).numpy()),
                            ("bias:0", m.bias.detach().numpy())]
        elif isinstance(m, nn.BatchNorm2d):
            counters["batch_normalization"] += 1
            name = f"batch_normalization_{counters['batch_normalization']}"
            groups[name] = [("gamma:0", m.weight.detach().numpy()), ("beta:0", m.bias.detach().numpy()),
                            ("moving_mean:0", m.running_mean.numpy()), ("moving_variance:0", m.running_var.numpy())]
        else:
            kind = "activation" if isinstance(m, nn.ReLU) else "max_pooling2d"
            counters[kind] += 1
            name = f"{kind}_{counters[kind]}"
            groups[name] = []
        names.append(name)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [n.encode() for n in names]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for name in names:
            g = f.create_group(name)
            g.attrs["weight_names"] = [f"{name}/{w}".encode() for w, _ in groups[name]]
            for w, array in groups[name]:
                g.create_dataset(f"{name}/{w}", data=array)


def write_passt_pt(path: Path, seed: int = 0) -> None:
    """A random PaSST-S net saved as the official release: a plain state dict."""
    from metrics.embedding.embedders.passt import build_passt

    torch.manual_seed(seed)
    torch.save(build_passt(None).net.state_dict(), path)


def write_byte_tokenizer(folder: Path) -> Path:
    """A RoBERTa-format (byte-level BPE) tokenizer with the 256 byte symbols and a few merges."""
    from transformers import RobertaTokenizer

    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = [b for b in range(256) if b not in printable]
    symbols = [chr(c) for c in printable] + [chr(256 + i) for i in range(len(extra))]
    vocab = dict(_SPECIALS)
    for s in symbols:
        vocab.setdefault(s, len(vocab))
    vocab["<mask>"] = len(vocab)
    merges = [("Ġ", "a"), ("Ġ", "d"), ("o", "g"), ("e", "r")]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    RobertaTokenizer(vocab=vocab, merges=merges).save_pretrained(str(folder))
    return folder


def write_clap_pt(path: Path, tokenizer_dir: Path, *, fusion: bool = True, amodel: str = "HTSAT-tiny",
                  seed: int = 0) -> None:
    """A random laion_clap model saved like the official checkpoints: ``{'epoch', 'state_dict': {'module.*'}}``
    including the ``text_branch.embeddings.position_ids`` entry that newer transformers no longer hold."""
    from sa_util.clap import ROBERTA_BASE, load_tokenizer, offline_transformers

    torch.manual_seed(seed)
    with offline_transformers(load_tokenizer(tokenizer_dir), ROBERTA_BASE):
        import laion_clap

        module = laion_clap.CLAP_Module(enable_fusion=fusion, amodel=amodel, device="cpu")
    state = {f"module.{k}": v for k, v in module.model.state_dict().items()}
    state["module.text_branch.embeddings.position_ids"] = torch.arange(ROBERTA_BASE["max_position_embeddings"])[None]
    torch.save({"epoch": 45, "state_dict": state}, path)


def _clap_writer(fusion: bool, amodel: str) -> Callable[[Path, int], object]:
    def write(path: Path, seed: int) -> None:
        write_clap_pt(path, path.parent / REGISTRY["roberta-base"].filename, fusion=fusion, amodel=amodel, seed=seed)
    return write


# registry name -> writer(path, seed) of a random-weight file in that entry's official format
WRITERS: dict[str, Callable[[Path, int], object]] = {
    "roberta-base": lambda path, seed: write_byte_tokenizer(path),
    "openl3-mel256-music": lambda path, seed: write_openl3_h5(path, random_openl3(seed)),
    "openl3-mel256-env": lambda path, seed: write_openl3_h5(path, random_openl3(seed + 1)),
    "passt-s-swa-ap476": lambda path, seed: write_passt_pt(path, seed),
    "clap-630k-audioset-fusion": _clap_writer(True, "HTSAT-tiny"),
    "clap-music-audioset": _clap_writer(False, "HTSAT-base"),  # the musicgen / audioldm2 protocols' (large)
    "clap-music-speech-audioset": _clap_writer(False, "HTSAT-base"),
    "vggish": lambda path, seed: write_vggish_pth(path, seed),
    "vggish-pca": lambda path, seed: write_vggish_pca_pth(path, seed),
    "panns-cnn14-16k": lambda path, seed: write_panns_pth(path, 16000, seed),
    "panns-cnn14-32k": lambda path, seed: write_panns_pth(path, 32000, seed),
    "encodec-24khz": lambda path, seed: write_encodec_th(path, "24k", seed),  # needs the encodec package
    "encodec-48khz": lambda path, seed: write_encodec_th(path, "48k", seed),
    "mert-v1-95m": lambda path, seed: write_mert_folder(path, "v1-95M", seed),
    "mert-v1-330m": lambda path, seed: write_mert_folder(path, "v1-330M", seed),  # 1.3 GB
}
DEFAULT_FILES = ("openl3-mel256-music", "openl3-mel256-env", "passt-s-swa-ap476", "clap-630k-audioset-fusion",
                 "roberta-base", "vggish", "panns-cnn14-16k")


def write_named(folder: Path, names: Iterable[str], seed: int = 0) -> dict[str, Path]:
    """The files of registry entries ``names`` in ``folder`` under their official names, each written only where it
    is not there yet (CLAP's tokenizer folder first, when a CLAP checkpoint is among them)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = list(dict.fromkeys(names))
    if any(n.startswith("clap-") for n in names):
        names = ["roberta-base"] + [n for n in names if n != "roberta-base"]
    paths = {}
    for name in names:
        paths[name] = folder / REGISTRY[name].filename
        if not paths[name].exists():
            WRITERS[name](paths[name], seed)
    return paths


def write_all(folder: Path, seed: int = 0, extra_clap: tuple[str, ...] = ()) -> dict[str, Path]:
    """Every evaluator file the metrics need, in ``folder`` under the official file names (OpenL3, PaSST, the
    protocol-default CLAP, VGGish, PANNs 16 kHz; ``extra_clap``: further CLAP checkpoints by weights name, e.g.
    ``clap-music-audioset``)."""
    return write_named(folder, DEFAULT_FILES + tuple(extra_clap), seed)


def write_vggish_pth(path: Path, seed: int = 0) -> None:
    """A random VGGish saved as the torchvggish release ``vggish-10086976.pth``: a plain float32 state dict
    (``features.{0,3,6,8,11,13}``, ``embeddings.{0,2,4}``). He-normal weights and small biases, so that activations
    neither vanish nor saturate through the 9 layers and the embeddings depend on the input."""
    from metrics.embedding.embedders.vggish import VGGishNet

    with torch.device("meta"):  # only the names and shapes are needed
        shapes = {k: v.shape for k, v in VGGishNet().state_dict().items()}
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        if key.endswith("weight"):
            state[key] = torch.randn(shape, generator=gen) * (2.0 / shape[1:].numel()) ** 0.5
        else:
            state[key] = 0.01 * torch.randn(shape, generator=gen)
    torch.save(state, path)


def write_vggish_pca_pth(path: Path, seed: int = 0, scale: float = 0.05) -> None:
    """Random PCA parameters as the torchvggish release ``vggish_pca_params-970ea276.pth``: a dict of float64
    NumPy arrays ``pca_eigen_vectors`` [128, 128] (a random rotation times ``scale``, which keeps the projections of
    :func:`write_vggish_pth` embeddings mostly inside the [-2, 2] quantiser range) and ``pca_means`` [128]."""
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.standard_normal((128, 128)))
    torch.save({"pca_eigen_vectors": scale * rotation, "pca_means": rng.standard_normal(128)}, path)


def write_panns_pth(path: Path, sample_rate: int = 16000, seed: int = 0) -> Path:
    """A random CNN14 saved like the official PANNs release (``Cnn14_16k_mAP=0.438.pth`` / ``Cnn14_mAP=0.431.pth``):
    ``{'iteration', 'model': state dict}``, the front-end (DFT kernels, mel matrix) as torchlibrosa computes it.

    Plain random convolutions with random BN statistics shrink the signal layer after layer until every file gives
    the same output, which would make parity tests blind. So the BN running statistics are calibrated on a few
    seeded synthetic clips (one train-mode pass), then gammas/betas are randomised: each layer sees O(1)
    activations, the outputs depend on the input, and the logits spread over a few units (so softmax KL and IS
    are not trivially ~0 and ~1).
    """
    from metrics.embedding.embedders.panns import Cnn14, config_for

    cfg = config_for(sample_rate)
    torch.manual_seed(seed)
    net = Cnn14(cfg)
    rng = np.random.default_rng(seed)
    sr, n = cfg.sample_rate, 3 * cfg.sample_rate // 2
    t = np.arange(n) / sr
    clips = [0.3 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t * (1 + rng.uniform(0, 0.2) * t))
             + rng.uniform(0.001, 0.1) * rng.standard_normal(n) for _ in range(4)]
    x = torch.from_numpy(np.stack(clips).astype(np.float32))  # [4, 1.5 s]
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # cumulative average: the running stats become this pass's batch stats
        net.train()(x)
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.1
                c = m.num_features
                m.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, c).astype(np.float32)))
                m.bias.copy_(torch.from_numpy(rng.normal(0, 0.1, c).astype(np.float32)))
    torch.save({"iteration": 0, "model": net.eval().state_dict()}, path)
    return path
