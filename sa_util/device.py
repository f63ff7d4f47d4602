"""Whether a torch device named on a command line works on this machine, checked before any model loads."""
from __future__ import annotations

import warnings

from sa_util.cli import one_line


class DeviceError(ValueError):
    """A ``--device`` that is not a device name or not usable here (the CLIs print it as one line, exit 2)."""


def check_device(device: str, flag: str = "--device") -> None:
    """Raise DeviceError unless ``device`` names a torch device that works on this machine."""
    import torch

    with warnings.catch_warnings():  # CUDA probing warns on machines without a driver
        warnings.simplefilter("ignore")
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError, ValueError) as exc:
            raise DeviceError(f"{flag} {device!r}: not a device name ({one_line(exc, 160)})") from exc
        if dev.type == "cpu":
            return
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise DeviceError(f"{flag} {device}: no CUDA GPU is available here (use {flag} cpu)")
        try:
            torch.zeros(1, device=dev)
        except Exception as exc:  # noqa: BLE001  any backend failure means "not usable here"
            raise DeviceError(f"{flag} {device}: not usable here ({one_line(exc, 160)})") from exc

