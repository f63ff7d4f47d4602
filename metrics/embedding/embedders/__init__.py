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

    def part(self, options: dict[str, Any], name: str) -> slice:
        """The slice of output part ``name``; ValueError naming the parts there are."""
        parts = self.parts(options)
        if name not in parts:
            raise ValueError(f"no output part {name!r}; this embedder gives {list(parts)}")
        return parts[name]


@dataclass(frozen=True)
class ClapCheckpoint:
    weights: str  # metrics.embedding.weights registry name
    fusion: bool  # HTSAT with feature fusion (crops plus a shrunk whole-clip mel beyond 10 s)
    amodel: str  # laion_clap's audio model name

    @property
    def filename(self) -> str:
        return WEIGHT_FILES[self.weights].filename


CLAP_CHECKPOINTS: dict[str, ClapCheckpoint] = {
    "630k-audioset-fusion": ClapCheckpoint("clap-630k-audioset-fusion", True, "HTSAT-tiny"),  # protocol default
    "music-audioset": ClapCheckpoint("clap-music-audioset", False, "HTSAT-base"),
    "music-speech-audioset": ClapCheckpoint("clap-music-speech-audioset", False, "HTSAT-base"),
}


def _clap_weights(o: dict[str, Any]) -> str:
    return CLAP_CHECKPOINTS[o.get("checkpoint", "630k-audioset-fusion")].weights


def _whole(name: str, width: int) -> Callable[[dict[str, Any]], dict[str, slice]]:
    return lambda o: {name: slice(0, width)}


MERT_WIDTHS = {"v1-95M": 768, "v1-330M": 1024}
# fadtk's names: MERT-v1-95M is layer 12, MERT-v1-95M-<L> layer L; MERT-v1-330M (MAD) reads layer 24
MERT_MODELS = ("MERT-v1-95M", *(f"MERT-v1-95M-{layer}" for layer in range(1, 12)), "MERT-v1-330M")

EMBEDDERS: dict[str, EmbedderEntry] = {
    # stereo by default: L and R frames of 512 concatenated (stable-audio-metrics' channels=2)
    "openl3": EmbedderEntry("metrics.embedding.embedders.openl3:OpenL3Embedder",
                            lambda o: f"openl3-mel256-{o.get('content_type', 'music')}", "openl3_weights",
                            lambda o: {"embedding": slice(0, 512 * int(o.get("channels", 2)))}),
    "passt": EmbedderEntry("metrics.embedding.embedders.passt:PasstEmbedder", lambda o: "passt-s-swa-ap476", "passt_weights",
                           _whole("probabilities", 527)),
    "clap": EmbedderEntry("metrics.embedding.embedders.clap:ClapEmbedder", _clap_weights, "clap_weights",
                          _whole("embedding", 512), extra={"roberta_dir": "roberta-base"}),
    "vggish": EmbedderEntry("metrics.embedding.embedders.vggish:VGGishEmbedder", lambda o: "vggish", "vggish_weights",
                            _whole("embedding", 128)),
    # one vector per file: Cnn14's "2048" embedding, then its 527 AudioSet logits
    "panns": EmbedderEntry("metrics.embedding.embedders.panns:PannsEmbedder",
                           lambda o: f"panns-cnn14-{int(o.get('sample_rate', 16000)) // 1000}k", "panns_weights",
                           lambda o: {"embedding": slice(0, 2048), "logits": slice(2048, 2048 + 527)}),
    # fadtk's codec and MERT embeddings: frames of the continuous EnCodec latent, MERT hidden states of one layer
    "encodec-emb": EmbedderEntry("metrics.embedding.embedders.encodec:EncodecEmbedder",
                                 lambda o: f"encodec-{o.get('variant', '24k')}hz", "encodec_weights",
                                 _whole("embedding", 128)),
    **{name: EmbedderEntry("metrics.embedding.embedders.mert:MertEmbedder",
                           lambda o: f"mert-{o.get('size', 'v1-95M').lower()}", "mert_dir",
                           lambda o: {"embedding": slice(0, MERT_WIDTHS[o.get("size", "v1-95M")])})
       for name in MERT_MODELS},
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
