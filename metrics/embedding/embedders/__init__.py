"""Evaluator models behind the :class:`metrics.embedding.embedder.Embedder` interface, one module per model family, and the
registry that builds them by name.

The registry names each embedder's class by import path only, and holds the numbers and files a run needs before
any model is built (output widths, CLAP checkpoints), so importing it (or listing the choices) loads no model module.
A new embedder is one module, one :data:`EMBEDDERS` entry and its :data:`metrics.embedding.weights.REGISTRY` entries;
``metrics.run`` needs no new branch.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from metrics.files.numba_stand_in import install as _install_numba_stand_in

_install_numba_stand_in()  # where numba is absent, librosa (under torchlibrosa: CLAP, PANNs) still imports

from metrics.embedding.embedder import Embedder
from metrics.embedding.weights import REGISTRY as WEIGHT_FILES
from sa_util.audio import AUDIO_RULES


@dataclass(frozen=True)
class EmbedderEntry:
    factory: str  # "module:Class"; the class takes (weights_path, device, batch_size, **options)
    weights: Callable[[dict[str, Any]], str]  # options -> metrics.embedding.weights registry name of its main file
    flag: str  # RunConfig field holding an explicit path for that file (the CLI flag with dashes)
    # options -> {part name: its slice of the last axis of one cached output}; the names are the ``output`` words
    # of metrics.protocols (one name per part everywhere), and each slice has an explicit stop, so its width is known
    # before any model is built
    parts: Callable[[dict[str, Any]], dict[str, slice]]
    extra: dict[str, str] = field(default_factory=dict)  # option name -> weights registry name of a further file
    # options -> further files that depend on the options (e.g. MS-CLAP's tokenizer: BERT or GPT-2)
    extra_for: Callable[[dict[str, Any]], dict[str, str]] | None = None

    def extras(self, options: dict[str, Any]) -> dict[str, str]:
        """Option name -> weights registry name of every further file this embedder needs with ``options``."""
        return {**self.extra, **(self.extra_for(options) if self.extra_for else {})}

    def part(self, options: dict[str, Any], name: str) -> slice:
        """The slice of output part ``name``; ValueError naming the parts there are."""
        parts = self.parts(options)
        if name not in parts:
            raise ValueError(f"no output part {name!r}; this embedder gives {list(parts)}")
        return parts[name]


@dataclass(frozen=True)
class ClapCheckpoint:
    """One CLAP checkpoint that ``--clap NAME`` can pick: the embedder family that runs it, its weight file, and
    the papers and tools whose CLAP figures were computed with it (a CLAP score depends on the checkpoint: the same
    set scores 0.13 with one and 0.31 with another, facebookresearch/audiocraft#512)."""

    weights: str  # metrics.embedding.weights registry name
    fusion: bool  # HTSAT with feature fusion (crops plus a shrunk whole-clip mel beyond 10 s)
    amodel: str  # the audio tower: laion_clap's audio model name, or MS-CLAP's (Cnn14, HTSAT)
    model: str = "clap"  # the embedder family (an EMBEDDERS key): clap (LAION) or msclap (Microsoft)
    version: str = ""  # MS-CLAP's release year
    used_by: str = ""  # the papers and tools that report CLAP figures with this checkpoint

    @property
    def filename(self) -> str:
        return WEIGHT_FILES[self.weights].filename

    def options(self, name: str) -> dict[str, Any]:
        """The embedder options that select this checkpoint (``name``: its key in :data:`CLAP_CHECKPOINTS`)."""
        return {"version": self.version, "chunks": "pam"} if self.model == "msclap" else {"checkpoint": name}


CLAP_CHECKPOINTS: dict[str, ClapCheckpoint] = {
    "630k-audioset": ClapCheckpoint(
        "clap-630k-audioset", False, "HTSAT-tiny",
        used_by="fadtk clap-laion-audio (Gui et al. 2024); laion_clap's default non-fusion model"),
    "630k-audioset-fusion": ClapCheckpoint(
        "clap-630k-audioset-fusion", True, "HTSAT-tiny",
        used_by="stable-audio-metrics CLAP score (Evans et al. 2024, Stable Audio Open 2024)"),
    "music-audioset": ClapCheckpoint(
        "clap-music-audioset", False, "HTSAT-base",
        used_by="audiocraft MusicGen text consistency (Copet et al. 2023); fadtk clap-laion-music"),
    "music-speech-audioset": ClapCheckpoint(
        "clap-music-speech-audioset", False, "HTSAT-base",
        used_by="audioldm_eval passt_replace_panns CLAP (AudioLDM 2, Liu et al. 2024)"),
    "ms-clap-2022": ClapCheckpoint(
        "msclap-2022", False, "Cnn14", model="msclap", version="2022",
        used_by="Microsoft CLAP (Elizalde et al., ICASSP 2023): CNN14 audio, BERT text, 5 s at 44.1 kHz"),
    "ms-clap-2023": ClapCheckpoint(
        "msclap-2023", False, "HTSAT", model="msclap", version="2023",
        used_by="Microsoft CLAP 2023 (Elizalde et al., ICASSP 2024): HTSAT audio, GPT-2 text, 7 s at 44.1 kHz; "
                "TTA-Bench CLAP (NKU-HLT TTA-Bench-tools), PAM (Deshmukh et al., Interspeech 2024)"),
}
LAION_CHECKPOINTS = tuple(k for k, v in CLAP_CHECKPOINTS.items() if v.model == "clap")
MSCLAP_VERSIONS = {v.version: k for k, v in CLAP_CHECKPOINTS.items() if v.model == "msclap"}  # "2023" -> name
CLAP_MODELS = ("clap", "msclap")  # embedder families that give audio and text embeddings (CLAP score, PAM)


def clap_name(model: str | None, options: dict[str, Any]) -> str | None:
    """The :data:`CLAP_CHECKPOINTS` name that embedder ``model`` with ``options`` runs (None: not a CLAP)."""
    if model == "clap":
        return options.get("checkpoint", "630k-audioset-fusion")
    if model == "msclap":
        return MSCLAP_VERSIONS[str(options.get("version", "2023"))]
    if model in FADTK_CLAP:
        return FADTK_CLAP[model]
    return None


AESTHETICS_AXES = ("CE", "CU", "PC", "PQ")  # Audiobox Aesthetics' heads, in its order: the columns of its output


def _clap_weights(o: dict[str, Any]) -> str:
    return CLAP_CHECKPOINTS[o.get("checkpoint", "630k-audioset-fusion")].weights


def _msclap_weights(o: dict[str, Any]) -> str:
    return CLAP_CHECKPOINTS[MSCLAP_VERSIONS[str(o.get("version", "2023"))]].weights


def _msclap_tokenizer(o: dict[str, Any]) -> dict[str, str]:
    """MS-CLAP's text tokenizer folder: BERT (2022) or GPT-2 (2023)."""
    return {"bert_dir": "bert-base-uncased"} if str(o.get("version", "2023")) == "2022" else {"gpt2_dir": "gpt2"}


# fadtk's LAION CLAP embeddings (model name -> checkpoint): 10 s windows every 1 s, frames pooled
FADTK_CLAP = {"clap-laion-audio": "630k-audioset", "clap-laion-music": "music-audioset"}


def _whole(name: str, width: int) -> Callable[[dict[str, Any]], dict[str, slice]]:
    return lambda o: {name: slice(0, width)}


@dataclass(frozen=True)
class KadtkPasst:
    """One of kadtk 1.1.0's PaSST models (``PaSSTModel(variant)``): its weight file, the width of its logits (they
    come first in its output, then the 768-d features) and the length every file is zero-padded or cut to."""

    weights: str  # metrics.embedding.weights registry name
    classes: int
    seconds: int

    @property
    def width(self) -> int:
        return self.classes + PASST_FEATURES


PASST_FEATURES = 768  # PaSST-S: the mean of its class and distillation tokens
# kadtk's PaSST and PANNs models under kadtk's names (the KAD paper's): one vector per file
KADTK_PASST = {"passt-base-10s": KadtkPasst("passt-s-swa-ap476", 527, 10),
               "passt-base-20s": KadtkPasst("passt-s-20sec-swa-ap474", 527, 20),
               "passt-base-30s": KadtkPasst("passt-s-30sec-swa-ap473", 527, 30),
               "passt-openmic": KadtkPasst("passt-openmic-ap85", 20, 10),
               "passt-fsd50k": KadtkPasst("passt-fsd50k-ap655", 200, 10)}


@dataclass(frozen=True)
class KadtkPanns:
    """One of kadtk 1.1.0's PANNs models (``PANNsModel(variant)``; its name is also its weights registry name): its
    sample rate and the :mod:`metrics.embedding.embedders.kadtk_models` class that runs its network."""

    rate: int
    embedder: str = "PannsKadtkEmbedder"  # CNN14


KADTK_PANNS = {"panns-cnn14-16k": KadtkPanns(16000), "panns-cnn14-32k": KadtkPanns(32000),
               "panns-wavegram-logmel": KadtkPanns(32000, "WavegramKadtkEmbedder")}

MERT_WIDTHS = {"v1-95M": 768, "v1-330M": 1024}
# fadtk's names: MERT-v1-95M is layer 12, MERT-v1-95M-<L> layer L; MERT-v1-330M (MAD) reads layer 24
MERT_MODELS = ("MERT-v1-95M", *(f"MERT-v1-95M-{layer}" for layer in range(1, 12)), "MERT-v1-330M")

EMBEDDERS: dict[str, EmbedderEntry] = {
    # stereo by default: L and R frames of 512 concatenated (stable-audio-metrics' channels=2)
    "openl3": EmbedderEntry("metrics.embedding.embedders.openl3:OpenL3Embedder",
                            lambda o: f"openl3-mel256-{o.get('content_type', 'music')}", "openl3_weights",
                            lambda o: {"embedding": slice(0, 512 * int(o.get("channels", 2)))}),
    # the 10 s model, or the 20 s one for pretrained_length=20 (audiocraft's KL); per file [527] or [segments, 527]
    "passt": EmbedderEntry("metrics.embedding.embedders.passt:PasstEmbedder",
                           lambda o: "passt-s-swa-ap476" if o.get("pretrained_length", 10) == 10 else
                           "passt-s-20sec-swa-ap474", "passt_weights", _whole("probabilities", 527)),
    "clap": EmbedderEntry("metrics.embedding.embedders.clap:ClapEmbedder", _clap_weights, "clap_weights",
                          _whole("embedding", 512), extra={"roberta_dir": "roberta-base"}),
    # MS-CLAP: one 1024-d projected audio embedding per 5 s (2022) or 7 s (2023) chunk
    "msclap": EmbedderEntry("metrics.embedding.embedders.msclap:MsClapEmbedder", _msclap_weights, "msclap_weights",
                            _whole("embedding", 1024), extra_for=_msclap_tokenizer),
    # fadtk's CLAP: one 512-d embedding per 10 s window, windows every 1 s
    **{name: EmbedderEntry("metrics.embedding.embedders.clap_fadtk:ClapFadtkEmbedder",
                           lambda o, c=checkpoint: CLAP_CHECKPOINTS[c].weights, "clap_weights",
                           _whole("embedding", 512), extra={"roberta_dir": "roberta-base"})
       for name, checkpoint in FADTK_CLAP.items()},
    "vggish": EmbedderEntry("metrics.embedding.embedders.vggish:VGGishEmbedder", lambda o: "vggish", "vggish_weights",
                            _whole("embedding", 128)),
    # one vector per file: Cnn14's "2048" embedding, then its 527 AudioSet logits
    "panns": EmbedderEntry("metrics.embedding.embedders.panns:PannsEmbedder",
                           lambda o: f"panns-cnn14-{int(o.get('sample_rate', 16000)) // 1000}k", "panns_weights",
                           lambda o: {"embedding": slice(0, 2048), "logits": slice(2048, 2048 + 527)}),
    # one score per axis per file (length-weighted mean over 10 s windows), each axis its own part
    "aesthetics": EmbedderEntry("metrics.embedding.embedders.aesthetics:AestheticsEmbedder",
                                lambda o: "audiobox-aesthetics", "aesthetics_weights",
                                lambda o: {a: slice(i, i + 1) for i, a in enumerate(AESTHETICS_AXES)}),
    # fadtk's codec and MERT embeddings: frames of the continuous EnCodec latent, MERT hidden states of one layer
    "encodec-emb": EmbedderEntry("metrics.embedding.embedders.encodec:EncodecEmbedder",
                                 lambda o: f"encodec-{o.get('variant', '24k')}hz", "encodec_weights",
                                 _whole("embedding", 128)),
    # fadtk's DAC: the 44.1 kHz codec's continuous latent, 430 frames per 5 s window, windows every 2.5 s
    "dac-44kHz": EmbedderEntry("metrics.embedding.embedders.dac:DacEmbedder", lambda o: "dac-44khz", "dac_weights",
                               _whole("embedding", 1024)),
    **{name: EmbedderEntry("metrics.embedding.embedders.mert:MertEmbedder",
                           lambda o: f"mert-{o.get('size', 'v1-95M').lower()}", "mert_dir",
                           lambda o: {"embedding": slice(0, MERT_WIDTHS[o.get("size", "v1-95M")])})
       for name in MERT_MODELS},
    # kadtk's PaSST ([logits | 768-d features] of the first 10/20/30 s), CNN14 and Wavegram-Logmel-CNN14 (their
    # 2048-d embedding) embeddings
    **{name: EmbedderEntry("metrics.embedding.embedders.kadtk_models:PasstKadtkEmbedder",
                           lambda o, w=spec.weights: w, "passt_weights", _whole("embedding", spec.width))
       for name, spec in KADTK_PASST.items()},
    **{name: EmbedderEntry(f"metrics.embedding.embedders.kadtk_models:{spec.embedder}",
                           lambda o, w=name: w, "panns_weights", _whole("embedding", 2048))
       for name, spec in KADTK_PANNS.items()},
}
EMBEDDERS["encodec-emb-48k"] = EMBEDDERS["encodec-emb"]  # the same family; the protocol options pick the 48 kHz model


def entry(name: str) -> EmbedderEntry:
    try:
        return EMBEDDERS[name]
    except KeyError:
        raise ValueError(f"unknown embedder {name!r}; choose from {list(EMBEDDERS)}") from None


def embedder_class(name: str) -> type[Embedder]:
    """The class of embedder ``name`` (imports its module now; builds nothing)."""
    module, cls = entry(name).factory.split(":")
    return getattr(importlib.import_module(module), cls)


def build(name: str, weights: Path | None, device: str = "cpu", batch_size: int = 32, **options: Any) -> Embedder:
    """The embedder ``name`` with its main weight file ``weights`` and ``options`` (imports its module now)."""
    return embedder_class(name)(weights, device, batch_size, **options)


def describe_limits() -> str:
    """The input limits of every registered evaluator, one line each (what the README states)."""
    rules = [AUDIO_RULES] + [embedder_class(name).input_rules for name in EMBEDDERS]  # constructs no model
    rules = list(dict.fromkeys(rules))  # evaluators that only check inside ``prepare`` share the general rules
    return "\n".join(r.describe() for r in rules)
