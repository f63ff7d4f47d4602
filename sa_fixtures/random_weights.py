"""Random-weight evaluator files written in the *official* formats, for tests and the offline demo.

They exercise exactly the loading code real weights go through (Keras .h5 read positionally, PaSST ``.pt`` state
dict, laion_clap checkpoint with ``module.`` prefixes and ``position_ids``, a RoBERTa tokenizer folder). Numbers
computed with them mean nothing beyond "the pipeline runs and agrees with the reference packages".
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

from metrics.embedding.embedders.openl3 import OpenL3Net
from metrics.embedding.weights import REGISTRY
from sa_fixtures.random_codecs import write_dac_pth, write_encodec_th, write_mert_folder

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


def write_passt_pt(path: Path, seed: int = 0, pretrained_length: int = 10, net: str | None = None) -> None:
    """A random PaSST-S net (10 s, or the 20 s model, or any ``passt.NETS`` entry by its weights name) saved as the
    official release: a plain state dict."""
    from metrics.embedding.embedders.passt import build_passt

    torch.manual_seed(seed)
    torch.save(build_passt(None, pretrained_length, net=net).net.state_dict(), path)


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


_AES_OFFICIAL = (  # (our AestheticsNet key pattern, the reference AesMultiOutput's name), applied in order
    (r"^feature_extractor\.conv_layers\.0\.layer_norm\.", "wavlm_model.feature_extractor.conv_layers.0.2."),
    (r"^feature_extractor\.conv_layers\.(\d+)\.conv\.", r"wavlm_model.feature_extractor.conv_layers.\1.0."),
    (r"^feature_projection\.layer_norm\.", "wavlm_model.layer_norm."),
    (r"^feature_projection\.projection\.", "wavlm_model.post_extract_proj."),
    (r"^encoder\.pos_conv_embed\.conv\.(parametrizations\.weight\.original0|weight_g)$",
     "wavlm_model.encoder.pos_conv.0.weight_g"),
    (r"^encoder\.pos_conv_embed\.conv\.(parametrizations\.weight\.original1|weight_v)$",
     "wavlm_model.encoder.pos_conv.0.weight_v"),
    (r"^encoder\.pos_conv_embed\.conv\.bias$", "wavlm_model.encoder.pos_conv.0.bias"),
    (r"^encoder\.layer_norm\.", "wavlm_model.encoder.layer_norm."),
    (r"\.attention\.rel_attn_embed\.", ".self_attn.relative_attention_bias."),
    (r"\.attention\.gru_rel_pos_linear\.", ".self_attn.grep_linear."),
    (r"\.attention\.gru_rel_pos_const$", ".self_attn.grep_a"),
    (r"\.attention\.", ".self_attn."),
    (r"^(encoder\.layers\.\d+)\.layer_norm\.", r"\1.self_attn_layer_norm."),
    (r"\.feed_forward\.intermediate_dense\.", ".fc1."),
    (r"\.feed_forward\.output_dense\.", ".fc2."),
    (r"^encoder\.layers\.", "wavlm_model.encoder.layers."),
)


def write_aesthetics_pt(path: Path, seed: int = 0, precision: str = "32") -> Path:
    """A random Audiobox Aesthetics model saved like the release ``checkpoint.pt``: ``{'state_dict': {'model.*'},
    'model_cfg', 'target_transform'}``, the state dict under the reference's own module names (WavLM's
    ``wavlm_model.*`` with the training-time ``mask_emb``, ``layer_weights.<axis>``, ``proj_layer.<axis>.0``).
    Norm gains, biases, layer weights and the relative-position gates are randomised so that a port ignoring any of
    them is caught; the target mean/std differ per axis. ``precision``: the ``model_cfg`` entry the reference
    autocasts to ("32": none)."""
    import re

    from metrics.embedding.embedders.aesthetics import AXES, AestheticsConfig, AestheticsNet

    cfg = AestheticsConfig(precision=precision)
    torch.manual_seed(seed)
    net = AestheticsNet(cfg).eval()
    rng = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "layer_weights" in name or "gru_rel_pos_const" in name:
                p.copy_(torch.rand(p.shape, generator=rng) + 0.5)
            elif p.ndim == 1 and ("norm" in name or name.endswith("bias")):
                p.add_(0.1 * torch.randn(p.shape, generator=rng))
                if name.endswith("norm.weight"):
                    p.mul_(torch.rand(p.shape, generator=rng) + 0.5)
        for head in net.proj_layer.values():  # random features vary little in direction: spread the scores
            head[-1].weight.mul_(100.0)
    state = {}
    for key, value in net.state_dict().items():
        for pattern, repl in _AES_OFFICIAL:
            key = re.sub(pattern, repl, key)
        state[f"model.{key}"] = value.clone()
    state["model.wavlm_model.mask_emb"] = torch.rand(768, generator=rng)
    transform = {a: {"mean": 5.0 + i * 0.5, "std": 1.0 + i * 0.25} for i, a in enumerate(AXES)}
    torch.save({"state_dict": state, "model_cfg": dataclasses.asdict(cfg),
                "target_transform": transform}, path)
    return path


# registry name -> writer(path, seed) of a random-weight file in that entry's official format
WRITERS: dict[str, Callable[[Path, int], object]] = {
    "roberta-base": lambda path, seed: write_byte_tokenizer(path),
    "openl3-mel256-music": lambda path, seed: write_openl3_h5(path, random_openl3(seed)),
    "openl3-mel256-env": lambda path, seed: write_openl3_h5(path, random_openl3(seed + 1)),
    "passt-s-swa-ap476": lambda path, seed: write_passt_pt(path, seed),
    "passt-s-20sec-swa-ap474": lambda path, seed: write_passt_pt(path, seed, 20),
    **{name: lambda path, seed, name=name: write_passt_pt(path, seed, net=name)
       for name in ("passt-s-30sec-swa-ap473", "passt-openmic-ap85", "passt-fsd50k-ap655")},
    "clap-630k-audioset-fusion": _clap_writer(True, "HTSAT-tiny"),
    "clap-music-audioset": _clap_writer(False, "HTSAT-base"),  # the musicgen / audioldm2 protocols' (large)
    "clap-music-speech-audioset": _clap_writer(False, "HTSAT-base"),
    "clap-630k-audioset": _clap_writer(False, "HTSAT-tiny"),
    "msclap-2022": lambda path, seed: write_msclap_pth(path, "2022", seed),
    "msclap-2023": lambda path, seed: write_msclap_pth(path, "2023", seed),
    "bert-base-uncased": lambda path, seed: write_bert_tokenizer(path),
    "gpt2": lambda path, seed: write_gpt2_tokenizer(path),
    "vggish": lambda path, seed: write_vggish_pth(path, seed),
    "vggish-pca": lambda path, seed: write_vggish_pca_pth(path, seed),
    "panns-cnn14-16k": lambda path, seed: write_panns_pth(path, 16000, seed),
    "panns-cnn14-32k": lambda path, seed: write_panns_pth(path, 32000, seed),
    "panns-wavegram-logmel": lambda path, seed: write_wavegram_pth(path, seed),
    "audiobox-aesthetics": lambda path, seed: write_aesthetics_pt(path, seed),
    "encodec-24khz": lambda path, seed: write_encodec_th(path, "24k", seed),  # needs the encodec package
    "encodec-48khz": lambda path, seed: write_encodec_th(path, "48k", seed),
    "dac-44khz": lambda path, seed: write_dac_pth(path, seed),  # needs the descript-audio-codec package
    "mert-v1-95m": lambda path, seed: write_mert_folder(path, "v1-95M", seed),
    "mert-v1-330m": lambda path, seed: write_mert_folder(path, "v1-330M", seed),  # 1.3 GB
}
# Lighter files of the same format and geometry for tests that run the pipeline, not a network's parity: the DAC
# encoder at width 8 instead of 64 (the 1024-d latent and hop 512 kept)
LIGHT_WRITERS: dict[str, Callable[[Path, int], None]] = {
    "dac-44khz": lambda path, seed: write_dac_pth(path, seed, encoder_dim=8, decoder_dim=64),
}
DEFAULT_FILES = ("openl3-mel256-music", "openl3-mel256-env", "passt-s-swa-ap476", "clap-630k-audioset-fusion",
                 "roberta-base", "vggish", "panns-cnn14-16k")


def write_named(folder: Path, names: Iterable[str], seed: int = 0, light: bool = False) -> dict[str, Path]:
    """The files of registry entries ``names`` in ``folder`` under their official names, each written only where it
    is not there yet (CLAP's tokenizer folder first, when a CLAP checkpoint is among them); ``light``: the
    :data:`LIGHT_WRITERS` variant where there is one."""
    folder.mkdir(parents=True, exist_ok=True)
    names = list(dict.fromkeys(names))
    if any(n.startswith("clap-") for n in names):
        names = ["roberta-base"] + [n for n in names if n != "roberta-base"]
    paths = {}
    for name in names:
        paths[name] = folder / REGISTRY[name].filename
        if not paths[name].exists():
            (LIGHT_WRITERS.get(name, WRITERS[name]) if light else WRITERS[name])(paths[name], seed)
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
    calibrate_batchnorm(net, synthetic_clips(cfg.sample_rate, rng), rng)
    torch.save({"iteration": 0, "model": net.eval().state_dict()}, path)
    return path


def write_wavegram_pth(path: Path, seed: int = 0) -> Path:
    """A random Wavegram-Logmel-CNN14 saved like the official ``Wavegram_Logmel_Cnn14_mAP=0.439.pth``
    (``{'iteration', 'model': state dict}``), BN statistics calibrated as in :func:`write_panns_pth`."""
    from metrics.embedding.embedders.wavegram_net import WavegramLogmelCnn14

    torch.manual_seed(seed)
    net = WavegramLogmelCnn14()
    rng = np.random.default_rng(seed)
    calibrate_batchnorm(net, synthetic_clips(net.cfg.sample_rate, rng), rng)
    torch.save({"iteration": 0, "model": net.eval().state_dict()}, path)
    return path


def synthetic_clips(sample_rate: int, rng: np.random.Generator, n: int = 4) -> torch.Tensor:
    """``[n, 1.5 s]`` random chirps with noise drawn from ``rng``, for calibrating random networks."""
    t = np.arange(3 * sample_rate // 2) / sample_rate
    clips = [0.3 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t * (1 + rng.uniform(0, 0.2) * t))
             + rng.uniform(0.001, 0.1) * rng.standard_normal(len(t)) for _ in range(n)]
    return torch.from_numpy(np.stack(clips).astype(np.float32))


def calibrate_batchnorm(net: nn.Module, x: torch.Tensor, rng: np.random.Generator) -> None:
    """BN running statistics of ``net`` set to those of one train-mode pass over ``x``, then random gammas/betas:
    each layer sees O(1) activations and the outputs depend on the input (plain random BN statistics shrink the
    signal layer after layer until every input gives the same output, which would make parity tests blind)."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.reset_running_stats()
                m.momentum = None  # cumulative average: the running stats become this pass's batch stats
        net.train()(x)
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.momentum = 0.1
                c = m.num_features
                m.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, c).astype(np.float32)))
                m.bias.copy_(torch.from_numpy(rng.normal(0, 0.1, c).astype(np.float32)))
    net.eval()


def write_bert_tokenizer(folder: Path) -> Path:
    """A bert-base-uncased-format WordPiece tokenizer folder (``vocab.txt``, ``tokenizer_config.json``): the
    special tokens, the letters and digits, a few words and '##' pieces."""
    import json

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz0123456789.,!?'-",
             *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"), "dog", "rain", "the", "a", "sound", "is"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(dict.fromkeys(words)) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}), encoding="utf-8")
    return folder


def write_gpt2_tokenizer(folder: Path) -> Path:
    """A GPT-2-format byte-level BPE tokenizer folder as the hub's gpt2 holds it (``vocab.json``, ``merges.txt``):
    the 256 byte symbols with '!' at id 0 as in GPT-2, a few merges, and ``<|endoftext|>``."""
    import json

    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = [b for b in range(256) if b not in printable]
    vocab = {s: i for i, s in enumerate([chr(c) for c in printable] + [chr(256 + i) for i in range(len(extra))])}
    merges = [("Ġ", "a"), ("Ġ", "d"), ("o", "g"), ("e", "r"), ("Ġ", "s")]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    vocab["<|endoftext|>"] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    return folder


def write_msclap_pth(path: Path, version: str, seed: int = 0) -> Path:
    """A random MS-CLAP network saved like the official ``CLAP_weights_{2022,2023}.pth``: ``{'model': state dict}``
    of msclap's ``CLAP`` module (the BERT release with the ``embeddings.position_ids`` entry older transformers
    saved). CNN14's BN statistics are calibrated (:func:`calibrate_batchnorm`), HTSAT's ``bn0`` is set to the
    statistics of the log-mels of a few clips."""
    from metrics.embedding.embedders.msclap import SR, MsClapNet, release

    torch.manual_seed(seed)
    net = MsClapNet(release(version))
    rng = np.random.default_rng(seed)
    clips = synthetic_clips(SR, rng)
    base = net.audio_encoder.base
    if version == "2022":
        calibrate_batchnorm(base, clips, rng)
    else:
        h = base.htsat
        with torch.no_grad():
            mel = h.logmel_extractor(h.spectrogram_extractor(clips))  # [n, 1, frames, 64]
            h.bn0.running_mean.copy_(mel.mean((0, 1, 2)))
            h.bn0.running_var.copy_(mel.var((0, 1, 2)))
    with torch.no_grad():
        net.logit_scale.fill_(float(np.log(1 / 0.07)))
    state = net.state_dict()
    if version == "2022":
        state["caption_encoder.base.embeddings.position_ids"] = torch.arange(512)[None]
    torch.save({"model": state}, path)
    return path
