"""Audio as fadtk 1.1.0 hands it to every model loader (``FrechetAudioDistance.load_audio``), before the loader's own
``load_wav``: read, channel mean, torchaudio's kaiser-best Resample to the model rate (``TORCHAUDIO_RESAMPLING =
True``), written as a 16-bit PCM wav and read back. The steps are :mod:`metrics.embedding.embedders.vggish`'s (the
VGGish embedder follows the same path); this module gives them to the other fadtk models. kadtk 1.1.0's
``EmbeddingLoader.load_audio`` is the same conversion with the same arguments, and both store embeddings as float16
(:func:`fadtk_float16`)."""
from __future__ import annotations

import numpy as np

from metrics.embedding.embedders.vggish import quantise_pcm16, resample_torchaudio_kaiser_best
from metrics.files.audio import to_mono
from sa_util.audio import AUDIO_RULES, InputRules, check_length, read_audio


def fadtk_mono(path: str, sample_rate: int, rules: InputRules = AUDIO_RULES) -> np.ndarray:
    """``[T]`` float32 at ``sample_rate``: the samples fadtk's converted ``convert/<sr>/<name>.wav`` holds (int16 /
    32768). ``rules`` are checked on the header and on the resampled length."""
    audio = read_audio(path, rules)
    x = quantise_pcm16(resample_torchaudio_kaiser_best(to_mono(audio.samples), audio.sample_rate, sample_rate))
    check_length(x.shape[-1], sample_rate, rules)
    return x[0]


def fadtk_float16(x: np.ndarray) -> np.ndarray:
    """``x`` (any shape) rounded through float16, as fadtk's and kadtk's ``ModelLoader.get_embedding`` store float32
    embeddings, returned as float32."""
    return np.asarray(x, np.float32).astype(np.float16).astype(np.float32)
