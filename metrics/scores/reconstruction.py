"""Reconstruction distances for autoencoder fidelity (the Stable Audio Open paper's autoencoder table).

All take ``[C, T]`` reference and estimate at the same rate and length and return one float per item.
"""
from __future__ import annotations

import numpy as np
import torch


def si_sdr(reference: np.ndarray, estimate: np.ndarray, eps: float = 1e-8) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019), zero-mean per channel, averaged over channels."""
    values = []
    for r, e in zip(np.asarray(reference, np.float64), np.asarray(estimate, np.float64)):
        r, e = r - r.mean(), e - e.mean()
        target = (e @ r) / (r @ r + eps) * r
        values.append(10 * np.log10((target @ target + eps) / ((e - target) @ (e - target) + eps)))
    return float(np.mean(values))


def mel_distance(reference: np.ndarray, estimate: np.ndarray, sample_rate: int,
                 scales: tuple[tuple[int, int], ...] = ((512, 64), (1024, 128), (2048, 128))) -> float:
    """Mean over (n_fft, n_mels) scales of the L1 distance between log10 mel magnitudes (DAC-style), hop n_fft/4."""
    import torchaudio

    ref, est = torch.as_tensor(reference, dtype=torch.float32), torch.as_tensor(estimate, dtype=torch.float32)
    total = 0.0
    for n_fft, n_mels in scales:
        mel = torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=n_fft, hop_length=n_fft // 4, n_mels=n_mels,
                                                   power=1.0)
        total += float((mel(ref).clamp_min(1e-5).log10() - mel(est).clamp_min(1e-5).log10()).abs().mean())
    return total / len(scales)
