
from pathlib import Path

import numpy as np
import pytest

from metrics.embedding.cache import EmbeddingCache
from metrics.embedding.embedder import Embedder
from metrics.embedding.embedders.openl3 import OpenL3Embedder
from metrics.embedding.pipeline import embed_files
from sa_fixtures.clips import tone, write_wav
from sa_util.audio import read_audio
from sa_util.ids import IdError, check_id


class CountingEmbedder(Embedder):
    """Mean of each channel: cheap, deterministic; counts files it embeds; can fail on demand: killed after
    ``fail_after`` calls, raises on a batch holding a file of ``poison_length`` samples, NaN for ``nan_length``."""

    name = "counting"
    sample_rate = 44100

    def __init__(self, fail_after: int | None = None, poison_length: int | None = None, nan_length: int | None = None):
        super().__init__(None)
        self.embedded: list[int] = []
        self.fail_after = fail_after
        self.poison_length, self.nan_length = poison_length, nan_length

    def settings(self):
        return {"v": 1}

    def prepare(self, path):
        return read_audio(path).samples

    def build(self):
        return "model"

    def embed(self, prepared):
        if self.fail_after is not None and len(self.embedded) >= self.fail_after:
            raise KeyboardInterrupt  # the run is killed here
        if any(p.shape[1] == self.poison_length for p in prepared):
            raise RuntimeError("Given input size: (1x1). Calculated output size: (0x0).\nOutput size is too small")
        self.embedded.append(len(prepared))
        return [p.mean(1) * (np.nan if p.shape[1] == self.nan_length else 1) for p in prepared]


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
def test_hostile_ids_never_become_paths(bad):
    with pytest.raises(IdError):
        check_id(bad)


def test_atomic_write_leaves_old_file_or_nothing_on_failure(tmp_path):
    from sa_util.files import atomic_write

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


def test_a_file_the_model_cannot_take_costs_only_itself(tmp_path, files):
    """A model error on one file does not end the batch or the run: the batch is retried file by file."""
    poison = str(write_wav(tmp_path / "in" / "poison.wav", tone(0.01)))  # 441 samples
    e = CountingEmbedder(poison_length=441)
    res = embed_files(e, files[:3] + [poison] + files[3:], workers=0, files_per_batch=4)
    assert sorted(res.outputs) == sorted(files)
    assert res.skipped == {poison: "model failed (RuntimeError: Given input size: (1x1). Calculated output size: "
                                   "(0x0).)"}
    assert e.embedded == [1, 1, 1, 4]  # the failed batch of 4 is retried one by one, then the rest in one batch


def test_non_finite_model_output_is_skipped_and_never_cached(tmp_path, files):
    cache = EmbeddingCache(tmp_path / "cache")
    bad = str(write_wav(tmp_path / "in" / "nan.wav", tone(0.01)))
    res = embed_files(CountingEmbedder(nan_length=441), files[:2] + [bad], cache=cache, workers=0)
    assert res.skipped == {bad: "model output contains NaN or infinite values"} and len(res.outputs) == 2
    again = CountingEmbedder()
    res2 = embed_files(again, [bad], cache=cache, workers=0)
    assert again.embedded == [1] and np.isfinite(res2.outputs[bad]).all()  # the NaN was not cached


def test_large_files_make_smaller_batches(tmp_path, files):
    e = CountingEmbedder()
    embed_files(e, files, workers=0, files_per_batch=8, batch_bytes=2 * 8820 * 4 * 3)  # 3 files of 0.2 s stereo
    assert e.embedded == [3, 3, 1]
