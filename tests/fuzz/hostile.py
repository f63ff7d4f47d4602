"""Factories for hostile inputs: audio files of any format and content, broken files, caption CSVs, reference
statistics and pickles, damaged weight files. Plain functions (no hypothesis), used by the strategies
(``tests/fuzz/strategies.py``) and directly by the regression and acceptance tests.

Every factory writes inside the folder it is given; nothing here touches a path outside it except the one
``symlink`` kind, which points at a target the caller chooses.
"""
from __future__ import annotations

import csv
import io
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import soundfile as sf

# (container, subtype) pairs libsndfile writes here, with the extension each is saved under.
FORMATS: dict[str, tuple[str, str, str]] = {
    "wav_u8": ("WAV", "PCM_U8", ".wav"), "wav16": ("WAV", "PCM_16", ".wav"), "wav24": ("WAV", "PCM_24", ".wav"),
    "wav32": ("WAV", "PCM_32", ".wav"), "wav_float": ("WAV", "FLOAT", ".wav"), "wav_double": ("WAV", "DOUBLE", ".wav"),
    "flac16": ("FLAC", "PCM_16", ".flac"), "flac24": ("FLAC", "PCM_24", ".flac"), "flac8": ("FLAC", "PCM_S8", ".flac"),
    "ogg": ("OGG", "VORBIS", ".ogg"), "opus": ("OGG", "OPUS", ".opus"), "mp3": ("MP3", "MPEG_LAYER_III", ".mp3"),
}
FLOAT_FORMATS = ("wav_float", "wav_double")  # the only ones that can hold NaN, inf, huge values and denormals
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000, 192000)
# every extension the suite writes audio under; a file of the run is any entry with one of these (any case)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3")

CONTENTS = ("tone", "noise", "silent", "dc", "impulse", "clipped", "nan_all", "nan_some", "inf_some", "huge",
            "denormal", "tone_then_silence")
GOOD_CONTENTS = ("tone", "noise", "tone_then_silence")  # evaluable whatever the format


@dataclass(frozen=True)
class AudioSpec:
    """One audio file: format key of :data:`FORMATS`, rate, channels, length in frames, content, seed."""

    fmt: str = "wav16"
    rate: int = 44100
    channels: int = 2
    frames: int = 44100
    content: str = "tone"
    seed: int = 0

    @property
    def suffix(self) -> str:
        return FORMATS[self.fmt][2]

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    def writable(self) -> "AudioSpec":
        """The nearest spec the container accepts (Opus/MP3 rates, channel limits, FLAC/OGG/MP3 need >= 1 frame)."""
        rate, channels, fmt = self.rate, self.channels, self.fmt
        if fmt == "opus":
            rate = min(OPUS_RATES, key=lambda r: abs(r - rate))
            channels = min(channels, 2)
        if fmt == "mp3":
            rate = min(MP3_RATES, key=lambda r: abs(r - rate))
            channels = min(channels, 2)
        if fmt in ("flac8", "flac16", "flac24", "ogg"):
            channels = min(channels, 8)
        frames = self.frames if fmt.startswith("wav") else max(self.frames, 1)
        return AudioSpec(fmt, rate, channels, frames, self.content, self.seed)


def samples(spec: AudioSpec) -> np.ndarray:
    """``[frames, channels]`` float64 for ``spec.content`` (seeded)."""
    rng = np.random.default_rng(spec.seed)
    n, c, sr = spec.frames, spec.channels, spec.rate
    t = np.arange(n) / sr
    freqs = 110.0 * 2 ** (rng.integers(0, 36, c) / 12)
    tone = 0.4 * np.sin(2 * np.pi * freqs[None, :] * t[:, None]) + 0.005 * rng.standard_normal((n, c))
    kind = spec.content
    if kind == "tone":
        return tone
    if kind == "noise":
        return 0.3 * rng.standard_normal((n, c)).clip(-3, 3) / 3
    if kind == "silent":
        return np.zeros((n, c))
    if kind == "dc":
        return np.full((n, c), 0.5)
    if kind == "impulse":
        x = np.zeros((n, c))
        if n:
            x[n // 2] = 0.9
        return x
    if kind == "clipped":
        return tone * 25.0  # far beyond full scale; PCM writers clip, float ones keep it
    if kind == "nan_all":
        return np.full((n, c), np.nan)
    if kind == "nan_some":
        x = tone.copy()
        if n:
            x[rng.integers(0, n, max(1, n // 100))] = np.nan
        return x
    if kind == "inf_some":
        x = tone.copy()
        if n:
            x[n // 3] = np.inf
            x[-1] = -np.inf
        return x
    if kind == "huge":
        return np.sign(tone + 1e-9) * 3.0e38 * (0.5 + 0.5 * np.abs(tone))  # near the float32 limit, finite
    if kind == "denormal":
        return tone * 1e-40  # float32 subnormals
    if kind == "tone_then_silence":
        x = tone.copy()
        x[n // 3:] = 0.0
        return x
    raise ValueError(f"unknown content {kind!r}")


def write_audio(path: Path, spec: AudioSpec) -> Path:
    """Write ``spec`` (made writable) at ``path``; the caller picks the name, the spec the bytes."""
    spec = spec.writable()
    container, subtype, _ = FORMATS[spec.fmt]
    data = samples(spec)
    if subtype == "FLOAT":
        data = data.astype(np.float32)  # keeps inf; 3e38 stays finite in float32
    path.parent.mkdir(parents=True, exist_ok=True)
    if subtype not in ("FLOAT", "DOUBLE"):
        data = np.nan_to_num(data, nan=0.0, posinf=1.0, neginf=-1.0).clip(-1, 1)
    sf.write(str(path), data, spec.rate, format=container, subtype=subtype)
    return path


def tone_wav(path: Path, seconds: float = 2.0, rate: int = 44100, channels: int = 2, seed: int = 0,
             fmt: str = "wav16") -> Path:
    """A plainly good file."""
    return write_audio(path, AudioSpec(fmt, rate, channels, int(round(seconds * rate)), "tone", seed))


def valid_wav_bytes(seconds: float = 0.5, rate: int = 44100, channels: int = 2, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples(AudioSpec("wav16", rate, channels, int(seconds * rate), "tone")), rate, format="WAV",
             subtype=subtype)
    return buf.getvalue()


def wav_claiming_rate(path: Path, rate: int, nbytes: int = 6000, channels: int = 1) -> Path:
    """A PCM-16 WAV whose header claims ``rate`` Hz (e.g. 1 Hz: a 6 KB file that "lasts" 50 minutes)."""
    frames = nbytes // (2 * channels)
    data = (np.sin(np.arange(frames * channels) / 3.0) * 12000).astype("<i2").tobytes()
    header = (b"RIFF" + (36 + len(data)).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
              + (1).to_bytes(2, "little") + channels.to_bytes(2, "little") + rate.to_bytes(4, "little")
              + (rate * 2 * channels).to_bytes(4, "little") + (2 * channels).to_bytes(2, "little")
              + (16).to_bytes(2, "little") + b"data" + len(data).to_bytes(4, "little"))
    path.write_bytes(header + data)
    return path


# --- broken files by kind ----------------------------------------------------------------------------------------
# kind -> one-line description; ``write_broken`` makes each. "bad": never evaluable; "edge": scored or listed.
BROKEN_KINDS: dict[str, str] = {
    "empty": "bad", "random_bytes": "bad", "header_only_40": "bad", "truncated_header": "bad",
    "zero_frames": "bad", "nan_samples": "bad", "inf_samples": "bad", "silent": "bad", "six_channels": "edge",
    "folder": "bad", "truncated_half": "edge", "one_sample": "edge", "ten_samples": "edge", "ms100": "edge",
    "huge_floats": "edge", "denormals": "edge", "one_hz_rate": "edge", "riff_garbage": "bad",
}


# broken kinds that are valid audio files of an odd kind: (format, rate, channels, frames, content)
AUDIO_KINDS: dict[str, tuple[str, int, int, int, str]] = {
    "nan_samples": ("wav_float", 44100, 2, 22050, "nan_some"),
    "inf_samples": ("wav_float", 44100, 2, 22050, "inf_some"),
    "silent": ("wav16", 44100, 2, 44100, "silent"),
    "six_channels": ("wav16", 48000, 6, 48000, "tone"),
    "one_sample": ("wav16", 44100, 2, 1, "dc"),
    "ten_samples": ("wav16", 44100, 2, 10, "noise"),
    "ms100": ("wav16", 44100, 2, 4410, "tone"),
    "huge_floats": ("wav_float", 44100, 2, 44100, "huge"),
    "denormals": ("wav_float", 44100, 2, 44100, "denormal"),
}


def write_broken(folder: Path, name: str, kind: str, seed: int = 0) -> Path:
    """Write the ``kind`` of :data:`BROKEN_KINDS` as ``folder/name`` (name carries the extension)."""
    path = folder / name
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    good = valid_wav_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "random_bytes":
        path.write_bytes(rng.integers(0, 256, int(rng.integers(1, 20000)), dtype=np.uint8).tobytes())
    elif kind == "header_only_40":
        path.write_bytes(good[:40])
    elif kind == "truncated_header":
        path.write_bytes(good[:20])
    elif kind == "riff_garbage":
        path.write_bytes(b"RIFF\xff\xff\xff\xffWAVEfmt " + rng.integers(0, 256, 200, dtype=np.uint8).tobytes())
    elif kind == "truncated_half":
        path.write_bytes(good[:len(good) // 2])  # the header claims twice the data present
    elif kind == "zero_frames":
        sf.write(str(path), np.zeros((0, 2), np.float32), 44100, format="WAV", subtype="PCM_16")
    elif kind == "folder":
        path.mkdir()
    elif kind in AUDIO_KINDS:
        write_audio(path, AudioSpec(*AUDIO_KINDS[kind], seed))
    elif kind == "one_hz_rate":
        wav_claiming_rate(path, 1)
    else:
        raise ValueError(f"unknown broken kind {kind!r}")
    return path


def symlink(link: Path, target: Path) -> Path:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link)
    return link


# --- hostile ids -------------------------------------------------------------------------------------------------
HOSTILE_IDS = ("../escape", "../../etc/passwd", "/abs/path", "/tmp", "a\\b", "c:d", "C:\\x", "..", ".", ".hidden",
               "nul\x00byte", "x" * 300, "y" * 245, "", " ", "001", "010", "1", "a/b", "ü-ñ-日本", "trailing ")


# --- caption CSVs ------------------------------------------------------------------------------------------------
def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]], bom: bool = False,
              newline: str = "\n") -> Path:
    """A CSV exactly as given (rows may be shorter or longer than the header: missing fields)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=newline)
    w.writerow(header)
    w.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8", "surrogatepass"))
    return path


# --- reference statistics ----------------------------------------------------------------------------------------
FD_DIM = 1024  # OpenL3 512-d per channel, L and R concatenated (stable-audio-metrics' stereo FD)


def psd(dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((dim, dim // 4 + 1))
    return a @ a.T / a.shape[1] + 1e-3 * np.eye(dim)


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())
    return path


def fd_stats(kind: str, dim: int = FD_DIM, seed: int = 0) -> dict[str, np.ndarray]:
    """Contents of an FD .npz by kind: a valid pair, or one defect."""
    rng = np.random.default_rng(seed)
    mu, sigma = rng.standard_normal(dim) * 0.1, psd(dim, seed)
    if kind == "valid":
        return {"mu_ref": mu, "sigma_ref": sigma}
    if kind == "nan_sigma":
        sigma[3, 5] = sigma[5, 3] = np.nan
        return {"mu_ref": mu, "sigma_ref": sigma}
    if kind == "inf_mu":
        mu[0] = np.inf
        return {"mu_ref": mu, "sigma_ref": sigma}
    if kind == "all_nan":
        return {"mu_ref": np.full(dim, np.nan), "sigma_ref": np.full((dim, dim), np.nan)}
    if kind == "huge":
        return {"mu_ref": mu * 1e300, "sigma_ref": sigma * 1e300}
    if kind == "asymmetric":
        sigma[0, 1] += 5.0
        return {"mu_ref": mu, "sigma_ref": sigma}
    if kind == "negative_definite":
        return {"mu_ref": mu, "sigma_ref": -sigma}
    if kind == "wrong_dim":
        return {"mu_ref": mu[:128], "sigma_ref": sigma[:128, :128]}
    if kind == "mismatched":
        return {"mu_ref": mu, "sigma_ref": sigma[:512, :512]}
    if kind == "missing_sigma":
        return {"mu_ref": mu}
    if kind == "scalars":
        return {"mu_ref": np.float64(1.0), "sigma_ref": np.float64(2.0)}
    if kind == "strings":
        return {"mu_ref": np.array(["a", "b"]), "sigma_ref": np.array([["x"]])}
    if kind == "int_dtype":
        return {"mu_ref": np.zeros(dim, np.int64), "sigma_ref": np.eye(dim, dtype=np.int8)}
    if kind == "complex":
        return {"mu_ref": mu.astype(complex), "sigma_ref": sigma.astype(complex) * 1j}
    if kind == "empty":
        return {"mu_ref": np.zeros(0), "sigma_ref": np.zeros((0, 0))}
    raise ValueError(f"unknown FD stats kind {kind!r}")


FD_STATS_KINDS = ("valid", "nan_sigma", "inf_mu", "all_nan", "huge", "asymmetric", "negative_definite", "wrong_dim",
                  "mismatched", "missing_sigma", "scalars", "strings", "int_dtype", "complex", "empty")


def write_object_npz(path: Path) -> Path:
    """An .npz whose arrays are pickled objects (np.load(allow_pickle=False) must refuse it)."""
    return write_npz(path, mu_ref=np.array([{"a": 1}], dtype=object), sigma_ref=np.array([None], dtype=object))


# --- KL reference pickles -----------------------------------------------------------------------------------------
N_CLASSES = 527


def probs(seed: int, n: int = N_CLASSES) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(n)).astype(np.float32)


def kl_pickle_bytes(values: dict, as_tensor: bool = True) -> bytes:
    """``pickle.dumps({id: tensor})`` as stable-audio-metrics writes its reference file."""
    import torch

    return pickle.dumps({k: torch.as_tensor(np.asarray(v, np.float32)) if as_tensor else v
                         for k, v in values.items()})


class _Marker:
    """Unpickling this calls ``open(marker, "w")``: a restricted unpickler must refuse it (the file never appears)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def malicious_pickle_bytes(marker: Path) -> bytes:
    return pickle.dumps({"id0": _Marker(marker)})


def torch_zip_bytes(values: dict) -> bytes:
    """``torch.save`` of the reference dict (a zip archive, not a plain pickle)."""
    import torch

    buf = io.BytesIO()
    torch.save({k: torch.as_tensor(np.asarray(v, np.float32)) for k, v in values.items()}, buf)
    return buf.getvalue()


KL_PICKLE_KINDS = ("valid", "scalars", "one_element", "nan", "negative", "wrong_length", "not_a_dict", "empty_dict",
                   "random_bytes", "truncated", "empty_file", "numpy", "torch_zip", "malicious", "nested", "int_keys",
                   "none_values", "huge", "zero_sum", "strings", "list_values")


def kl_pickle(kind: str, ids: Sequence[str], marker: Path, seed: int = 0) -> bytes:
    """Bytes of a KL reference ``.pkl`` by kind, for ``ids``; ``malicious`` would create ``marker`` if run."""
    good = {i: probs(seed + k) for k, i in enumerate(ids)}
    rng = np.random.default_rng(seed)
    if kind == "valid":
        return kl_pickle_bytes(good)
    if kind == "int_keys":
        return kl_pickle_bytes({int(i) if i.isdigit() else i: v for i, v in good.items()})
    if kind == "scalars":
        return kl_pickle_bytes({i: np.float32(0.5) for i in ids})
    if kind == "one_element":
        return kl_pickle_bytes({i: np.array([1.0]) for i in ids})
    if kind == "nan":
        return kl_pickle_bytes({i: np.where(np.arange(N_CLASSES) == 7, np.nan, v) for i, v in good.items()})
    if kind == "negative":
        return kl_pickle_bytes({i: v - 0.01 for i, v in good.items()})
    if kind == "huge":
        return kl_pickle_bytes({i: v * 3e38 for i, v in good.items()})
    if kind == "zero_sum":
        return kl_pickle_bytes({i: np.zeros(N_CLASSES) for i in ids})
    if kind == "wrong_length":
        return kl_pickle_bytes({i: v[:100] for i, v in good.items()})
    if kind == "not_a_dict":
        return pickle.dumps([1, 2, 3])
    if kind == "empty_dict":
        return pickle.dumps({})
    if kind == "random_bytes":
        return rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    if kind == "truncated":
        data = kl_pickle_bytes(good)
        return data[:len(data) // 2]
    if kind == "empty_file":
        return b""
    if kind == "numpy":
        return pickle.dumps({i: v for i, v in good.items()})  # numpy arrays: numpy classes, not tensors
    if kind == "torch_zip":
        return torch_zip_bytes(good)
    if kind == "malicious":
        return malicious_pickle_bytes(marker)
    if kind == "nested":
        return pickle.dumps({"a": {"b": {"c": [1, 2, {"d": None}]}}})
    if kind == "none_values":
        return pickle.dumps({i: None for i in ids})
    if kind == "strings":
        return pickle.dumps({i: "0.5" for i in ids})
    if kind == "list_values":
        return pickle.dumps({i: v.tolist() for i, v in good.items()})
    raise ValueError(f"unknown KL pickle kind {kind!r}")


# --- damaged weight files ----------------------------------------------------------------------------------------
def truncated_copy(src: Path, dest: Path, keep: int = 1 << 20) -> Path:
    """The first ``keep`` bytes of ``src`` (a download cut short)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as f:
        dest.write_bytes(f.read(keep))
    return dest


def wrong_state_dict(dest: Path) -> Path:
    """A loadable torch file holding the wrong thing (a small unrelated state dict)."""
    import torch

    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"weight": torch.zeros(3, 3), "state_dict": {"module.x": torch.ones(2)}}, dest)
    return dest


def weights_with(base: Path, dest: Path, replace: dict[str, bytes | Path | None]) -> Path:
    """A weights folder of links to ``base``'s files, with the named files replaced (bytes or a file to link), or
    left out (None)."""
    dest.mkdir(parents=True, exist_ok=True)
    for entry in base.iterdir():
        if entry.name in replace:
            new = replace[entry.name]
            if isinstance(new, bytes):
                (dest / entry.name).write_bytes(new)
            elif isinstance(new, Path):
                os.symlink(new, dest / entry.name)
        else:
            os.symlink(entry, dest / entry.name)
    return dest


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()
