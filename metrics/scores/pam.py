"""PAM (Deshmukh et al., Interspeech 2024; soham97/PAM ``PAM/PAM.py``): a no-reference audio quality score from a
CLAP's audio embeddings and two opposing text prompts.

Per clip: the logit-scaled cosine of the audio embedding with each prompt embedding, softmax over the prompts, the
probability of the first ("clear and clean"). Per file: the mean over its clips. The set's PAM is the mean over files.
"""
from __future__ import annotations

import numpy as np


def pam_clip_scores(audio: np.ndarray, prompts: np.ndarray, logit_scale: float) -> np.ndarray:
    """``[k, D]`` clip embeddings, ``[2, D]`` prompt embeddings (neither need be normalised) -> ``[k]`` PAM."""
    a = np.asarray(audio, np.float64)
    t = np.asarray(prompts, np.float64)
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    t = t / np.linalg.norm(t, axis=-1, keepdims=True)
    logits = logit_scale * a @ t.T  # [k, 2]
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p[:, 0] / p.sum(axis=1)


def pam_file_score(audio: np.ndarray, prompts: np.ndarray, logit_scale: float) -> float:
    """PAM of one file: the mean of its clips' scores (``[k, D]`` clip embeddings)."""
    return float(pam_clip_scores(audio, prompts, logit_scale).mean())
