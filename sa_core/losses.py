"""Autoencoder training losses: multi-resolution STFT (mid/side + L/R), KL, and a multi-scale STFT
discriminator with hinge and feature-matching losses (stable-audio-tools ``training/autoencoders.py``,
``models/discriminators.py``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

FFT_SIZES = (2048, 1024, 512, 256, 128, 64, 32)


def stft_magnitude(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    """``[B, T]`` -> ``[B, F, frames]`` magnitude sqrt(max(|X|^2, 1e-8)) (auraloss' floor), Hann, 75 % overlap."""
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    spec = torch.stft(x, n_fft, hop_length=n_fft // 4, win_length=n_fft, window=window, return_complex=True)
    return (spec.real ** 2 + spec.imag ** 2).clamp_min(1e-8).sqrt()


def mrstft_loss(pred: torch.Tensor, target: torch.Tensor, fft_sizes: tuple[int, ...] = FFT_SIZES) -> torch.Tensor:
    """Sum over resolutions of spectral convergence + L1 of log magnitudes (auraloss), over ``[B, C, T]`` channels."""
    p, t = pred.flatten(0, 1).float(), target.flatten(0, 1).float()
    total = p.new_zeros(())
    for n in fft_sizes:
        if p.shape[-1] < n:
            continue
        sp, st = stft_magnitude(p, n), stft_magnitude(t, n)
        total = total + (st - sp).norm() / st.norm() + F.l1_loss(sp.log(), st.log())
    return total


def stereo_mrstft_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mid/side MR-STFT at weight 1 plus left and right at 1/2 each (stereo); plain MR-STFT for mono."""
    if pred.shape[1] != 2:
        return mrstft_loss(pred, target)
    mid_side = lambda x: torch.stack([x[:, 0] + x[:, 1], x[:, 0] - x[:, 1]], 1)  # noqa: E731
    return (mrstft_loss(mid_side(pred), mid_side(target))
            + 0.5 * mrstft_loss(pred[:, :1], target[:, :1]) + 0.5 * mrstft_loss(pred[:, 1:], target[:, 1:]))


class STFTDiscriminator(nn.Module):
    """One scale: complex STFT (real || imag per channel) -> weight-normed 2D convs, LeakyReLU(0.2)."""

    def __init__(self, channels: int, filters: int, n_fft: int):
        super().__init__()
        self.n_fft = n_fft
        c_in = 2 * channels
        self.convs = nn.ModuleList([weight_norm(nn.Conv2d(c_in, filters, (3, 9), padding=(1, 4)))] + [
            weight_norm(nn.Conv2d(filters, filters, (3, 9), dilation=(d, 1), padding=(d, 4))) for d in (1, 2, 4)] + [
            weight_norm(nn.Conv2d(filters, filters, (3, 3), padding=(1, 1)))])
        self.conv_post = weight_norm(nn.Conv2d(filters, 1, (3, 3), padding=(1, 1)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        B, C, T = x.shape
        window = torch.hann_window(self.n_fft, device=x.device, dtype=x.dtype)
        spec = torch.stft(x.reshape(B * C, T), self.n_fft, self.n_fft // 4, window=window, normalized=True,
                          center=False, return_complex=True)
        h = torch.view_as_real(spec).reshape(B, C, *spec.shape[1:], 2)  # [B, C, F, frames, 2]
        h = h.permute(0, 1, 4, 3, 2).reshape(B, 2 * C, spec.shape[-1], spec.shape[1]).contiguous()  # [B, 2C, frames, F]
        features = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.2)
            features.append(h)
        return self.conv_post(h), features


class MultiScaleSTFTDiscriminator(nn.Module):
    def __init__(self, channels: int = 2, filters: int = 64, n_ffts: tuple[int, ...] = (2048, 1024, 512, 256, 128)):
        super().__init__()
        self.discriminators = nn.ModuleList(STFTDiscriminator(channels, filters, n) for n in n_ffts)

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        return [d(x) for d in self.discriminators]


def discriminator_hinge_loss(real: list, fake: list) -> torch.Tensor:
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean() for (r, _), (f, _) in zip(real, fake)) / len(real)


def generator_losses(real: list, fake: list) -> dict[str, torch.Tensor]:
    """Adversarial (-D(fake)) and feature matching (mean |f_real - f_fake| over layers, then scales)."""
    adv = sum(-f.mean() for f, _ in fake) / len(fake)
    fm = sum(sum(F.l1_loss(ff, fr.detach()) for fr, ff in zip(fr_list, ff_list)) / len(fr_list)
             for (_, fr_list), (_, ff_list) in zip(real, fake)) / len(real)
    return {"loss/adversarial": adv, "loss/feature_matching": fm}
