"""Microsoft CLAP (MS-CLAP, microsoft/CLAP, PyPI ``msclap`` 1.3.4) audio and text embeddings, our own port, offline:
the CLAP score, PAM (:mod:`metrics.scores.pam`) and FD/KAD on MS-CLAP embeddings.

Releases (``msclap/configs/config_{2022,2023}.yml``; weights ``microsoft/msclap`` on the hub, ``{'model': state
dict}`` saved from msclap's ``CLAP`` module):
* 2022 ``CLAP_weights_2022.pth``: CNN14 audio tower (torchlibrosa front-end: n_fft 1024, hop 320, 64 mels
  50-14000 Hz at 44.1 kHz; the PANNs network of :mod:`metrics.embedding.embedders.panns`), BERT-base-uncased text
  (CLS token), clips of 5 s, text padded to 100 tokens.
* 2023 ``CLAP_weights_2023.pth``: HTSAT-tiny audio tower (laion_clap's HTS-AT, whose parameters and forward are
  those of msclap's copy; its mel front-end is built from msclap's ``models/config.py`` numbers, 32 kHz, 50-14000 Hz,
  and its tensors come from the checkpoint), GPT-2 text (the hidden state at index ``count(ids != 0) - 1``,
  text + ``' <|endoftext|>'``, padded with ``'!'`` (id 0) to 77 tokens), clips of 7 s.
Both: a projection (linear, GELU, linear, residual, LayerNorm) to 1024 dimensions; ``logit_scale``.

Audio per file (msclap ``CLAPWrapper.read_audio`` / ``load_audio_into_tensor``): decoded as float32 ``[C, T]``,
resampled to 44.1 kHz with torchaudio's default sinc resampler, then ``reshape(-1)``: a multi-channel file becomes
its channels one after the other (msclap does this; we keep it). Then cut into clips of ``duration`` seconds
(``chunks``):
* ``pam`` (default): PAM's ``AudioDataset.process_audio``: a clip no longer than the duration is tiled (repeated)
  and cut to it; a longer one gives every whole clip from the start, then, if samples remain, the last
  ``duration`` seconds (overlapping the clip before). PAM's ``repro`` mode reads the first clip only.
* ``random-crop``: msclap's ``get_audio_embeddings``: the same tiling for short audio, one random clip of longer
  audio. msclap draws its start from Python's global ``random`` unseeded; we draw it from ``random.Random`` seeded
  by the file's samples and the run seed (the same start msclap draws after ``random.seed`` of that number).
A clip of at most ``duration`` seconds gives the same single clip in both modes.

Output per file: ``[n_clips, 1024]`` projected audio embeddings (not normalised; the scores normalise).
Texts longer than the padded length are kept whole, as msclap does (up to the text model's 512 / 1024 positions).
"""
from __future__ import annotations

import dataclasses
import random
import types
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from metrics.embedding.embedder import Embedder, embed_windows
from metrics.embedding.embedders.panns import Cnn14, Cnn14Config, resample_torchaudio
from sa_util.audio import AUDIO_RULES, read_audio
from sa_util.clap import htsat_factory
from sa_util.state_dict import load_state_strict, read_weights

SR = 44100
D_PROJ = 1024
CHUNKS = ("pam", "random-crop")
# buffers that older transformers saved with the text model and newer ones rebuild (dropped when present)
LEGACY_BUFFERS = ("embeddings.position_ids", ".attn.bias", ".attn.masked_bias")
RULES = dataclasses.replace(AUDIO_RULES, model="MS-CLAP", min_samples=1, model_rate=SR)


@dataclass(frozen=True)
class MsClapRelease:
    version: str
    weights: str  # metrics.embedding.weights registry name
    duration: int  # seconds per clip
    text: str  # "bert" or "gpt2"
    text_len: int  # tokens a text is padded to
    audio_dim: int  # the audio tower's embedding width

    @property
    def clip_samples(self) -> int:
        return self.duration * SR


RELEASES: dict[str, MsClapRelease] = {
    "2022": MsClapRelease("2022", "msclap-2022", 5, "bert", 100, 2048),
    "2023": MsClapRelease("2023", "msclap-2023", 7, "gpt2", 77, 768),
}
# msclap's models/config.py: the numbers its HTSAT front-end and tower are built with
HTSAT_CONFIG = dict(model_name="tiny", class_num=527, sample_rate=32000, window_size=1024, hop_size=320,
                    mel_bins=64, fmin=50, fmax=14000, clip_samples=320000)


def release(version: str | int) -> MsClapRelease:
    try:
        return RELEASES[str(version)]
    except KeyError:
        raise ValueError(f"unknown MS-CLAP version {version!r}; choose from {list(RELEASES)}") from None


# ------------------------------------------------------------------------------------------------------------
# Input


def clips(x: np.ndarray, n: int, chunks: str, rng: random.Random | None = None) -> np.ndarray:
    """``[T]`` -> ``[k, n]`` clips of ``n`` samples (module docstring: ``pam`` or ``random-crop``)."""
    if n >= len(x):
        return np.tile(x, -(-n // len(x)))[None, :n]
    if chunks == "random-crop":
        start = (rng or random.Random(0)).randrange(len(x) - n)
        return x[None, start:start + n]
    whole = len(x) // n
    out = x[:whole * n].reshape(whole, n)
    return np.concatenate([out, x[None, -n:]]) if len(x) > whole * n else out


def prepare_msclap(path: str | Path, rel: MsClapRelease, chunks: str, seed: int = 0) -> np.ndarray:
    """msclap's audio loading then clipping: ``[k, duration * 44100]`` float32 (module docstring)."""
    audio = read_audio(path, RULES)
    x = resample_torchaudio(torch.from_numpy(audio.samples), audio.sample_rate, SR).reshape(-1).numpy()
    rng = random.Random(zlib.crc32(x.tobytes()) ^ seed) if chunks == "random-crop" else None
    return np.ascontiguousarray(clips(x, rel.clip_samples, chunks, rng), dtype=np.float32)


# ------------------------------------------------------------------------------------------------------------
# Network (parameter names follow msclap's ``CLAP`` module, as saved in the official checkpoints)


class Projection(nn.Module):
    """``[B, d_in] -> [B, d_out]``: LayerNorm(e1 + linear2(gelu(e1))), e1 = linear1(x)."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.linear1 = nn.Linear(d_in, d_out, bias=False)
        self.linear2 = nn.Linear(d_out, d_out, bias=False)
        self.layer_norm = nn.LayerNorm(d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.linear1(x)
        return self.layer_norm(e1 + self.linear2(nn.functional.gelu(e1)))


class Htsat(nn.Module):
    """``[B, T]`` (T <= 1024 hops) -> ``[B, 768]`` HTSAT latent output; holds laion_clap's tower as ``htsat``."""

    def __init__(self) -> None:
        super().__init__()
        self.htsat = htsat_factory()(types.SimpleNamespace(**HTSAT_CONFIG))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.htsat
        mel = h.logmel_extractor(h.spectrogram_extractor(x))  # [B, 1, frames, 64]
        if mel.shape[2] > h.freq_ratio * h.spec_size:
            raise ValueError(f"MS-CLAP HTSAT takes at most {h.freq_ratio * h.spec_size} frames, got {mel.shape[2]}")
        mel = h.bn0(mel.transpose(1, 3)).transpose(1, 3)
        return h.forward_features(h.reshape_wav2img(mel))["embedding"]


class Cnn14Tower(Cnn14):
    """``[B, T]`` -> ``[B, 2048]``: CNN14's embedding (the logits are not used)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x)[0]


class Tower(nn.Module):
    """An encoder and its projection (``base``, ``projection``)."""

    def __init__(self, base: nn.Module, d_in: int):
        super().__init__()
        self.base = base
        self.projection = Projection(d_in, D_PROJ)


def text_model(kind: str) -> nn.Module:
    """BERT-base-uncased or GPT-2 (small), built from their published configurations (weights: the checkpoint's)."""
    from transformers import BertConfig, BertModel, GPT2Config, GPT2Model

    return BertModel(BertConfig()) if kind == "bert" else GPT2Model(GPT2Config())


class MsClapNet(nn.Module):
    """msclap's ``CLAP``: ``audio_encoder`` (tower + projection), ``caption_encoder`` (text model + projection),
    ``logit_scale``."""

    def __init__(self, rel: MsClapRelease):
        super().__init__()
        self.release = rel
        audio = (Cnn14Tower(Cnn14Config(SR, 1024, 320, 14000.0, rel.weights)) if rel.version == "2022" else Htsat())
        self.audio_encoder = Tower(audio, rel.audio_dim)
        self.caption_encoder = Tower(text_model(rel.text), 768)
        self.logit_scale = nn.Parameter(torch.zeros([]))

    def audio(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` clips -> ``[B, 1024]``."""
        return self.audio_encoder.projection(self.audio_encoder.base(x))

    def text(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``[B, L]`` token ids and attention mask -> ``[B, 1024]`` (BERT: CLS; GPT-2: msclap's last-token index)."""
        base = self.caption_encoder.base
        if self.release.text == "bert":
            hidden = base(input_ids=ids, token_type_ids=torch.zeros_like(ids), attention_mask=mask)[0][:, 0]
        else:
            states = base(input_ids=ids, attention_mask=mask)[0]
            hidden = states[torch.arange(len(ids), device=ids.device), (ids != 0).sum(-1) - 1]
        return self.caption_encoder.projection(hidden)


def read_msclap_state(path: Path, expected: str) -> dict[str, torch.Tensor]:
    """The ``model`` state dict of an official MS-CLAP ``.pth`` (older transformers' saved buffers dropped)."""
    ckpt = read_weights(path, expected)
    state = ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected {expected}, a dict with a 'model' state dict")
    return {k: v for k, v in state.items()
            if not (k.startswith("caption_encoder.base.") and k.endswith(LEGACY_BUFFERS))}


def load_msclap(path: Path | None, rel: MsClapRelease) -> MsClapNet:
    """The MS-CLAP ``rel`` network with the checkpoint ``path`` loaded strictly (None: random weights, tests)."""
    net = MsClapNet(rel)
    if path is not None:
        expected = f"the MS-CLAP {rel.version} checkpoint (CLAP_weights_{rel.version}.pth)"
        load_state_strict(net, read_msclap_state(path, expected), path, expected)
    return net.eval().requires_grad_(False)


def load_tokenizer(folder: Path, kind: str) -> Any:
    """BERT (``vocab.txt``) or GPT-2 (``vocab.json`` + ``merges.txt``, pad token ``'!'``) tokenizer from a local
    folder; refuses an empty one."""
    from transformers import BertTokenizer, GPT2Tokenizer

    if kind == "bert":
        tok = BertTokenizer.from_pretrained(str(folder), local_files_only=True)
    else:
        tok = GPT2Tokenizer.from_pretrained(str(folder), local_files_only=True)
        tok.add_special_tokens({"pad_token": "!"})
    if len(tok("a dog barking")["input_ids"]) < 2:
        raise ValueError(f"the tokenizer in {folder} is empty; see `python -m metrics.weights list`")
    return tok


# ------------------------------------------------------------------------------------------------------------
# Embedder


class MsClapEmbedder(Embedder):
    """``prepare`` -> ``[k, duration * 44100]`` clips; ``embed`` -> ``[k, 1024]`` audio embeddings per file."""

    sample_rate = SR
    input_rules = RULES

    def __init__(self, weights_path: Path | None, device: str = "cpu", batch_size: int = 32, *,
                 version: str = "2023", chunks: str = "pam", bert_dir: Path | None = None,
                 gpt2_dir: Path | None = None, seed: int = 0, model: MsClapNet | None = None):
        super().__init__(weights_path, device, batch_size)
        if chunks not in CHUNKS:
            raise ValueError(f"unknown MS-CLAP chunking {chunks!r}; choose from {list(CHUNKS)}")
        self.release, self.chunks, self.seed = release(version), chunks, seed
        self.tokenizer_dir = bert_dir if self.release.text == "bert" else gpt2_dir
        self.name = f"msclap-{self.release.version}"
        self._model = model
        self._tokenizer: Any = None

    def settings(self) -> dict[str, Any]:
        return {"sr": SR, "version": self.release.version, "duration_s": self.release.duration,
                "chunks": self.chunks, "channels": "concatenated", "resampler": "torchaudio sinc_interp_hann",
                **({"seed": self.seed} if self.chunks == "random-crop" else {})}

    def prepare(self, path: str) -> np.ndarray:
        return prepare_msclap(path, self.release, self.chunks, self.seed)

    def build(self) -> MsClapNet:
        return load_msclap(self.weights_path, self.release).to(self.device)

    @torch.no_grad()
    def embed(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        model = self.load()
        out = embed_windows(model.audio, [torch.from_numpy(p) for p in prepared], self.batch_size, self.device)
        return [o.numpy() for o in out]

    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            if self.tokenizer_dir is None:
                flag = "--bert-dir" if self.release.text == "bert" else "--gpt2-dir"
                raise ValueError(f"MS-CLAP {self.release.version} text needs a local {self.release.text} tokenizer "
                                 f"folder ({flag})")
            self._tokenizer = load_tokenizer(self.tokenizer_dir, self.release.text)
        return self._tokenizer

    def tokens(self, text: str) -> tuple[torch.Tensor, torch.Tensor]:
        """msclap's ``preprocess_text`` for one text: ids and attention mask ``[L]`` (L >= the padded length)."""
        rel = self.release
        text = text + " <|endoftext|>" if rel.text == "gpt2" else text
        tok = self.tokenizer()(text, add_special_tokens=True, max_length=rel.text_len, padding="max_length",
                               return_tensors="pt")
        limit = 512 if rel.text == "bert" else 1024  # the text model's positions
        return tok["input_ids"][0, :limit], tok["attention_mask"][0, :limit]

    @torch.no_grad()
    def embed_text(self, texts: list[str]) -> np.ndarray:
        """``[N, 1024]`` text embeddings (not normalised); texts of equal token length share a forward."""
        model = self.load()
        tokens = [self.tokens(t) for t in texts]
        out = torch.zeros(len(texts), D_PROJ)
        by_length: dict[int, list[int]] = {}
        for i, (ids, _) in enumerate(tokens):
            by_length.setdefault(len(ids), []).append(i)
        for members in by_length.values():
            for j in range(0, len(members), self.batch_size):
                idx = members[j:j + self.batch_size]
                ids = torch.stack([tokens[i][0] for i in idx]).to(self.device)
                mask = torch.stack([tokens[i][1] for i in idx]).to(self.device)
                out[idx] = model.text(ids, mask).float().cpu()
        return out.numpy()

    def logit_scale(self) -> float:
        """exp(logit_scale): the temperature of msclap's ``compute_similarity`` (and PAM's softmax)."""
        return float(self.load().logit_scale.exp())
