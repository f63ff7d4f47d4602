
from pathlib import Path

import numpy as np
import pytest

from metrics.audio import read_audio
from metrics.cache import EmbeddingCache
from metrics.embedder import Embedder
from metrics.ids import IdError, check_id, id_path
from metrics.embedders.openl3 import OpenL3Embedder
from metrics.pipeline import embed_files
from tests.conftest import tone, write_wav


class CountingEmbedder(Embedder):
    """Mean of each channel: cheap, deterministic; counts files it embeds; can fail on demand."""

    name = "counting"
    sample_rate = 44100

    def __init__(self, fail_after: int | None = None):
        super().__init__(None)
        self.embedded: list[int] = []
        self.fail_after = fail_after

    def settings(self):
        return {"v": 1}

    def prepare(self, path):
        return read_audio(path).samples

    def build(self):
        return "model"

    def embed(self, prepared):
        if self.fail_after is not None and len(self.embedded) >= self.fail_after:
            raise KeyboardInterrupt  # the run is killed here
        self.embedded.append(len(prepared))
        return [p.mean(1) for p in prepared]


@pytest.fixture
def files(tmp_path):
    return [str(write_wav(tmp_path / "in" / f"{i}.wav", tone(0.2, seed=i) * (i + 1) / 10)) for i in range(7)]


def test_bad_files_are_reported_and_the_run_goes_on(tmp_path, files):
    bad = write_wav(tmp_path / "in" / "silent.wav", np.zeros((1000, 2), np.float32))
    res = embed_files(CountingEmbedder(), files + [str(bad), str(tmp_path / "missing.wav")], workers=0)
    assert len(res.outputs) == 7
    assert res.skipped[str(bad)].startswith("silent audio")
    assert "cannot read file" in res.skipped[str(tmp_path / "missing.wav")]


def test_killed_run_resumes_without_redoing_work(tmp_path, files):
    cache = EmbeddingCache(tmp_path / "cache")
    with pytest.raises(KeyboardInterrupt):
        embed_files(CountingEmbedder(fail_after=2), files, cache=cache, workers=0, files_per_batch=2)
    resumed = CountingEmbedder()
    res = embed_files(resumed, files, cache=cache, workers=0, files_per_batch=2)
    assert res.cache_hits == 4 and sum(resumed.embedded) == 3  # only the files the killed run had not finished
    again = CountingEmbedder()
    res2 = embed_files(again, files, cache=cache, workers=0)
    assert again.embedded == [] and res2.cache_hits == 7
    for p in files:
        np.testing.assert_array_equal(res.outputs[p], res2.outputs[p])
    assert not list((tmp_path / "cache").rglob("*.tmp"))  # atomic writes leave no partial files


def test_cache_key_changes_with_settings(tmp_path, weights_dir):
    a = OpenL3Embedder(weights_dir / "openl3_audio_mel256_music.h5", hop_s=0.5)
    b = OpenL3Embedder(weights_dir / "openl3_audio_mel256_music.h5", hop_s=0.1)
    c = OpenL3Embedder(weights_dir / "openl3_audio_mel256_env.h5", content_type="env")
    assert len({a.cache_key(), b.cache_key(), c.cache_key()}) == 3


def test_workers_and_batch_size_change_nothing(tmp_path, weights_dir, files):
    e = OpenL3Embedder(weights_dir / "openl3_audio_mel256_music.h5", batch_size=3)
    serial = embed_files(e, files[:3], workers=0, files_per_batch=1)
    parallel = embed_files(e, files[:3], workers=2, files_per_batch=3)
    for p in files[:3]:
        np.testing.assert_allclose(serial.outputs[p], parallel.outputs[p], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bad", ["../../x", "a/b", "..", ".hidden", "x\x00y", "c:\\evil", ""])
def test_hostile_ids_never_become_paths(tmp_path, bad):
    with pytest.raises(IdError):
        check_id(bad)
    with pytest.raises(IdError):
        id_path(tmp_path, bad)


def test_id_symlink_out_of_folder_is_rejected(tmp_path):
    outside = write_wav(tmp_path / "secret.wav", tone(0.1))
    (tmp_path / "gen").mkdir()
    (tmp_path / "gen" / "x.wav").symlink_to(outside)
    with pytest.raises(IdError, match="outside"):
        id_path(tmp_path / "gen", "x")
    write_wav(tmp_path / "gen" / "-kssA-FOzU.wav", tone(0.1))
    assert id_path(tmp_path / "gen", "-kssA-FOzU") == (tmp_path / "gen" / "-kssA-FOzU.wav").resolve()


def test_atomic_write_leaves_old_file_or_nothing_on_failure(tmp_path):
    from metrics.cache import atomic_write

    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def broken(tmp):
        Path(tmp).write_bytes(b"partial")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f.bin"]
    atomic_write(target, lambda tmp: Path(tmp).write_bytes(b"new"))
    assert target.read_bytes() == b"new"
