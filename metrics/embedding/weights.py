"""Official weight files: where they come from, where we look for them, and how to fetch and check them.

Nothing here downloads unless a user runs ``python -m metrics.weights download NAME``. Everything else only
resolves local paths and raises :class:`MissingWeights` with the file name, its source and how to point at it.

Lookup order for a weight file: an explicit path (CLI flag) > ``--weights-dir`` > ``$SA_BENCH_WEIGHTS`` >
``~/.cache/sa-bench/weights``.

sha256: the official hosts publish no checksums we could read from this (offline) machine, so no hash is pinned
in code. ``download`` records the sha256 of what it fetched in ``<file>.sha256`` beside the file, and ``verify``
checks files against those records (and against a pinned hash where one is given). Pin your own by passing
``--sha256`` to ``download``.
"""
from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sa_util.cli import guarded, one_line
from sa_util.files import atomic_write, file_sha256

ENV_VAR = "SA_BENCH_WEIGHTS"
DEFAULT_DIR = Path("~/.cache/sa-bench/weights")

_OPENL3 = "https://github.com/marl/openl3/raw/models/{}-v0_4_0.h5.gz"
_CLAP = "https://huggingface.co/lukewys/laion_clap/resolve/main/{}"
_ROBERTA = "https://huggingface.co/FacebookAI/roberta-base/resolve/main/{}"
_MSCLAP = "https://huggingface.co/microsoft/msclap/resolve/main/{}"
_BERT = "https://huggingface.co/google-bert/bert-base-uncased/resolve/main/{}"
_GPT2 = "https://huggingface.co/openai-community/gpt2/resolve/main/{}"
_ENCODEC = "https://dl.fbaipublicfiles.com/encodec/v0/{}"
_MERT = "https://huggingface.co/m-a-p/{}/resolve/main/{}"
_PASST = "https://github.com/kkoutini/PaSST/releases/download/v0.0.5/{}"
_MERT_FILES = ("config.json", "preprocessor_config.json", "pytorch_model.bin")


@dataclass(frozen=True)
class WeightFile:
    name: str  # registry key, e.g. "openl3-mel256-music"
    filename: str  # file name in the weights folder (a folder name for multi-file entries)
    urls: tuple[str, ...]  # one per file; gzip (.gz) sources are decompressed on download
    used_by: str
    flag: str  # the CLI flag that takes an explicit path
    members: tuple[str, ...] = ()  # for folder entries: the files inside
    sha256: str | None = None  # pinned hash of the (decompressed) file, when known


REGISTRY: dict[str, WeightFile] = {w.name: w for w in [
    WeightFile("openl3-mel256-music", "openl3_audio_mel256_music.h5",
               (_OPENL3.format("openl3_audio_mel256_music"),), "FD_openl3 (music: MusicCaps, Song Describer)",
               "--openl3-weights"),
    WeightFile("openl3-mel256-env", "openl3_audio_mel256_env.h5",
               (_OPENL3.format("openl3_audio_mel256_env"),), "FD_openl3 (env: AudioCaps)", "--openl3-weights"),
    WeightFile("passt-s-swa-ap476", "passt-s-f128-p16-s10-ap.476-swa.pt",
               ("https://github.com/kkoutini/PaSST/releases/download/v0.0.1-audioset/"
                "passt-s-f128-p16-s10-ap.476-swa.pt",), "KL_passt; FD/KAD on kadtk's passt-base-10s",
               "--passt-weights"),
    WeightFile("passt-s-20sec-swa-ap474", "passt-s-f128-20sec-p16-s10-ap.474-swa.pt",
               (_PASST.format("passt-s-f128-20sec-p16-s10-ap.474-swa.pt"),),
               "KL_passt (audiocraft: pretrained_length 20); FD/KAD on kadtk's passt-base-20s", "--passt-weights"),
    # the other PaSST releases kadtk 1.1.0 offers (hear21passt's default_cfgs URLs)
    WeightFile("passt-s-30sec-swa-ap473", "passt-s-f128-30sec-p16-s10-ap.473-swa.pt",
               (_PASST.format("passt-s-f128-30sec-p16-s10-ap.473-swa.pt"),), "FD/KAD on kadtk's passt-base-30s",
               "--passt-weights"),
    WeightFile("passt-openmic-ap85", "openmic-passt-s-f128-10sec-p16-s10-ap.85.pt",
               (_PASST.format("openmic-passt-s-f128-10sec-p16-s10-ap.85.pt"),), "FD/KAD on kadtk's passt-openmic",
               "--passt-weights"),
    WeightFile("passt-fsd50k-ap655", "fsd50k-passt-s-f128-p16-s10-ap.655.pt",
               (_PASST.format("fsd50k-passt-s-f128-p16-s10-ap.655.pt"),), "FD/KAD on kadtk's passt-fsd50k",
               "--passt-weights"),
    WeightFile("clap-630k-audioset", "630k-audioset-best.pt", (_CLAP.format("630k-audioset-best.pt"),),
               "CLAP (HTSAT-tiny, no fusion; fadtk clap-laion-audio)", "--clap-weights"),
    WeightFile("clap-630k-audioset-fusion", "630k-audioset-fusion-best.pt",
               (_CLAP.format("630k-audioset-fusion-best.pt"),), "CLAP score (protocol default)", "--clap-weights"),
    WeightFile("clap-music-audioset", "music_audioset_epoch_15_esc_90.14.pt",
               (_CLAP.format("music_audioset_epoch_15_esc_90.14.pt"),), "CLAP score (HTSAT-base music)",
               "--clap-weights"),
    WeightFile("clap-music-speech-audioset", "music_speech_audioset_epoch_15_esc_89.98.pt",
               (_CLAP.format("music_speech_audioset_epoch_15_esc_89.98.pt"),), "CLAP score (HTSAT-base, MusicGen's)",
               "--clap-weights"),
    WeightFile("roberta-base", "roberta-base",
               tuple(_ROBERTA.format(f) for f in ("tokenizer.json", "config.json", "vocab.json", "merges.txt")),
               "CLAP text tokenizer", "--roberta-dir",
               members=("tokenizer.json", "config.json", "vocab.json", "merges.txt")),
    WeightFile("msclap-2022", "CLAP_weights_2022.pth", (_MSCLAP.format("CLAP_weights_2022.pth"),),
               "MS-CLAP 2022 (CNN14 + BERT): CLAP score, FAD", "--msclap-weights"),
    WeightFile("msclap-2023", "CLAP_weights_2023.pth", (_MSCLAP.format("CLAP_weights_2023.pth"),),
               "MS-CLAP 2023 (HTSAT + GPT-2): CLAP score, PAM, FAD", "--msclap-weights"),
    WeightFile("bert-base-uncased", "bert-base-uncased", (_BERT.format("vocab.txt"), _BERT.format("tokenizer_config.json")),
               "MS-CLAP 2022 text tokenizer", "--bert-dir", members=("vocab.txt", "tokenizer_config.json")),
    WeightFile("gpt2", "gpt2", (_GPT2.format("vocab.json"), _GPT2.format("merges.txt")),
               "MS-CLAP 2023 text tokenizer", "--gpt2-dir", members=("vocab.json", "merges.txt")),
    WeightFile("vggish", "vggish-10086976.pth",
               ("https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth",),
               "FAD_vggish (fadtk / frechet-audio-distance protocols)", "--vggish-weights"),
    WeightFile("vggish-pca", "vggish_pca_params-970ea276.pth",
               ("https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish_pca_params-970ea276.pth",),
               "FAD_vggish PCA variant (AudioSet release embeddings)", "--vggish-pca"),
    # PANNs (Kong et al.), Zenodo record 3987831: the files audioldm_eval's CNN14 loads, and kadtk's Wavegram-Logmel
    WeightFile("panns-cnn14-16k", "Cnn14_16k_mAP=0.438.pth",
               ("https://zenodo.org/record/3987831/files/Cnn14_16k_mAP%3D0.438.pth?download=1",),
               "PANNs CNN14 FD/KL/IS (audioldm_eval protocol, 16 kHz); FD/KAD on kadtk's panns-cnn14-16k",
               "--panns-weights"),
    WeightFile("panns-cnn14-32k", "Cnn14_mAP=0.431.pth",
               ("https://zenodo.org/record/3987831/files/Cnn14_mAP%3D0.431.pth?download=1",),
               "PANNs CNN14 FD/KL/IS (audioldm_eval protocol, 32 kHz); FD/KAD on kadtk's panns-cnn14-32k",
               "--panns-weights"),
    WeightFile("panns-wavegram-logmel", "Wavegram_Logmel_Cnn14_mAP=0.439.pth",
               ("https://zenodo.org/records/3987831/files/Wavegram_Logmel_Cnn14_mAP%3D0.439.pth?download=1",),
               "FD/KAD on kadtk's panns-wavegram-logmel (PANNs Wavegram-Logmel-CNN14, 32 kHz)", "--panns-weights"),
    # Meta Audiobox Aesthetics: the checkpoint audiobox_aesthetics' AesPredictor loads (utils.DEFAULT_CKPT_FNAME)
    WeightFile("audiobox-aesthetics", "checkpoint.pt",
               ("https://huggingface.co/facebook/audiobox-aesthetics/resolve/main/checkpoint.pt",),
               "Audiobox Aesthetics PQ/PC/CE/CU (tta-bench protocol)", "--aesthetics-weights"),
    # EnCodec (Defossez et al.): the checkpoints EncodecModel.encodec_model_{24,48}khz fetch (whole model state dicts)
    WeightFile("encodec-24khz", "encodec_24khz-d7cc33bc.th", (_ENCODEC.format("encodec_24khz-d7cc33bc.th"),),
               "FAD/KAD on encodec-emb (fadtk protocol)", "--encodec-weights"),
    WeightFile("encodec-48khz", "encodec_48khz-7e698e3e.th", (_ENCODEC.format("encodec_48khz-7e698e3e.th"),),
               "FAD/KAD on encodec-emb-48k (fadtk protocol)", "--encodec-weights"),
    # Descript Audio Codec 44.1 kHz (Kumar et al. 2023), release 0.0.1: what dac.utils.load_model(tag='latest',
    # model_type='44khz') fetches and caches under this name ({'state_dict', 'metadata': {'kwargs'}})
    WeightFile("dac-44khz", "weights_44khz_8kbps_0.0.1.pth",
               ("https://github.com/descriptinc/descript-audio-codec/releases/download/0.0.1/weights.pth",),
               "FAD/KAD on dac-44kHz (fadtk protocol)", "--dac-weights"),
    # MERT-v1 (Li et al., m-a-p): the hub folders (their model code is not needed, metrics.embedding.embedders.mert_net)
    WeightFile("mert-v1-95m", "MERT-v1-95M", tuple(_MERT.format("MERT-v1-95M", f) for f in _MERT_FILES),
               "FAD/KAD on MERT-v1-95M (fadtk protocol)", "--mert-dir", members=_MERT_FILES),
    WeightFile("mert-v1-330m", "MERT-v1-330M", tuple(_MERT.format("MERT-v1-330M", f) for f in _MERT_FILES),
               "MAD (mad protocol)", "--mert-dir", members=_MERT_FILES),
]}


class MissingWeights(FileNotFoundError):
    """A weight file is not on disk; the message says which, from where, and how to point at it."""


def weights_dir(explicit: str | Path | None = None) -> Path:
    """The folder weight files are looked up in (see module docstring for the order)."""
    raw = explicit or os.environ.get(ENV_VAR) or DEFAULT_DIR
    return Path(raw).expanduser()


def resolve(name: str, explicit_path: str | Path | None = None, directory: str | Path | None = None) -> Path:
    """Local path of registry entry ``name``; raises MissingWeights if it is not there."""
    spec = REGISTRY[name]
    path = Path(explicit_path).expanduser() if explicit_path else weights_dir(directory) / spec.filename
    needed = path / spec.members[0] if spec.members else path  # a folder entry needs its first member
    missing = [] if needed.is_file() else [needed]
    if missing:
        raise MissingWeights(
            f"{spec.used_by} needs '{spec.filename}' ({name}), not found at {missing[0]}. It comes from "
            f"{spec.urls[0]}. Get it on a machine with internet with `python -m metrics.weights download {name}`, "
            f"then point {spec.flag} at it, or --weights-dir / ${ENV_VAR} at the folder that holds it.")
    return path


def load_problem(path: Path) -> str | None:
    """Why the weight file (or folder entry) at ``path`` cannot be read, found cheaply before any audio is decoded:
    an HDF5 file is opened, a PyTorch checkpoint is read through ``mmap`` (its tensors are not loaded), a folder's
    members must be files. None when it reads; a checkpoint in the legacy (non-zip) format is not probed."""
    if path.is_dir():
        return None
    try:
        if path.suffix == ".h5":
            import h5py

            with h5py.File(path, "r") as f:
                list(f.keys())
        elif path.suffix in (".pt", ".pth", ".ckpt", ".th"):
            import torch

            try:
                torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as exc:
                if "mmap can only be used with files saved with" not in str(exc):
                    raise
    except Exception as exc:  # noqa: BLE001  any failure to read means "not usable weights"
        return one_line(exc, 200)
    return None


def _fetch(url: str, dest: Path) -> None:
    """Download ``url`` to ``dest`` atomically, gunzipping ``.gz`` sources."""
    def copy(tmp: str) -> None:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:  # noqa: S310
            shutil.copyfileobj(gzip.GzipFile(fileobj=response) if url.endswith(".gz") else response, out)

    atomic_write(dest, copy, suffix=".part")


def download(name: str, directory: Path, expected_sha256: str | None = None) -> list[Path]:
    """Fetch an entry into ``directory``, check and record sha256. Needs internet."""
    return fetch_entry(REGISTRY[name], directory, expected_sha256)


def fetch_entry(spec: WeightFile, directory: Path, expected_sha256: str | None = None) -> list[Path]:
    """Fetch ``spec``'s files into ``directory``; a file whose sha256 differs from the pinned one is removed and
    refused; the sha256 of each is recorded beside it (``<file>.sha256``)."""
    targets = [directory / spec.filename / m for m in spec.members] if spec.members else [directory / spec.filename]
    for url, target in zip(spec.urls, targets):
        _fetch(url, target)
        digest = file_sha256(target)
        pinned = expected_sha256 or spec.sha256
        if pinned and digest != pinned and not spec.members:
            target.unlink()
            raise ValueError(f"sha256 mismatch for {target.name}: got {digest}, expected {pinned}; file removed")
        target.with_name(target.name + ".sha256").write_text(digest + "\n")
    return targets


def verify(name: str, directory: Path) -> list[str]:
    """Problems with an entry on disk (empty list = present and matching its recorded/pinned sha256)."""
    spec = REGISTRY[name]
    try:
        path = resolve(name, directory=directory)
    except MissingWeights as exc:
        return [str(exc)]
    files = [path / m for m in spec.members] if spec.members else [path]
    problems = []
    for f in files:
        record = f.with_name(f.name + ".sha256")
        expected = spec.sha256 if (spec.sha256 and not spec.members) else (
            record.read_text(encoding="utf-8", errors="replace").strip() if record.is_file() else None)
        if expected is None:
            problems.append(f"{f}: present, but no sha256 recorded (not fetched by `download`); cannot verify")
        elif file_sha256(f) != expected:
            problems.append(f"{f}: sha256 differs from {expected}")
    return problems


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m metrics.weights", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["list", "download", "verify"])
    parser.add_argument("names", nargs="*", help=f"entries (default: all): {', '.join(REGISTRY)}")
    parser.add_argument("--weights-dir", default=None, help=f"folder (default ${ENV_VAR} or {DEFAULT_DIR})")
    parser.add_argument("--sha256", default=None, help="expected sha256 (download of a single file entry)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in REGISTRY]
    if unknown:
        parser.error(f"unknown weight name(s) {unknown}; choose from {list(REGISTRY)}")
    names = args.names or list(REGISTRY)
    directory = weights_dir(args.weights_dir)
    status = 0
    for name in names:
        spec = REGISTRY[name]
        if args.command == "list":
            present = "present" if not verify(name, directory) or (directory / spec.filename).exists() else "missing"
            print(f"{name:28s} {present:8s} {directory / spec.filename}  <- {spec.urls[0]}  [{spec.used_by}]")
        elif args.command == "download":
            try:
                targets = download(name, directory, args.sha256)
            except (OSError, ValueError) as exc:  # no network, refused, disk full, sha256 mismatch: one line
                print(f"error: download {name} from {spec.urls[0]} failed: {one_line(exc, 300)}", file=sys.stderr)
                return 2
            for target in targets:
                print(f"{name}: {target} sha256={file_sha256(target)}")
        else:
            problems = verify(name, directory)
            status |= bool(problems)
            print(f"{name}: " + ("ok" if not problems else "; ".join(problems)))
    return status


if __name__ == "__main__":
    sys.exit(main())
