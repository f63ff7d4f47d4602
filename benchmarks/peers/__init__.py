"""Generation peers: the same random-weight stable-audio-open-1.0-layout checkpoint loaded by ours, by diffusers
(``StableAudioPipeline``, weights converted with diffusers' own ``scripts/convert_stable_audio.py`` rules) and by
stable-audio-tools (``create_model_from_config`` + ``sample_diffusion``/``generate_diffusion_cond``).

Every stack answers one interface (:class:`Stack`), so the equality tests and the speed suite loop over a registry
(:data:`STACKS`) instead of branching per peer. Peers are never dependencies of the package; a missing one raises
:class:`PeerMissing` whose message is the reason to skip and the command that installs it (:data:`INSTALL`).

Conditioning is fed to every stack from the same text-encoder output (``tokens [B, S, 768]``, ``mask [B, S]``) and
timings in seconds; each stack then runs its *own* timing embedders, cross/global assembly, DiT, CFG, sampler and VAE.
"""
from __future__ import annotations

import importlib
from typing import Callable

from benchmarks.peers.stack import PeerMissing, Stack

CONVERT_URL = "https://raw.githubusercontent.com/huggingface/diffusers/v0.42.1/scripts/convert_stable_audio.py"
INSTALL = {
    "diffusers": "pip install --no-deps diffusers==0.42.1 && mkdir -p \"$VIRTUAL_ENV/share/sa-bench\" && curl -L -o "
                 f"\"$VIRTUAL_ENV/share/sa-bench/convert_stable_audio.py\" {CONVERT_URL} (or point "
                 "$SA_BENCH_DIFFUSERS_CONVERT at scripts/convert_stable_audio.py of a diffusers checkout)",
    "stable-audio-tools": "pip install --no-deps --ignore-requires-python stable-audio-tools==0.0.20 "
                          "alias-free-torch==0.0.6 einops-exts==0.0.4 pywavelets==1.9.0 dill==0.4.1",
}
# one venv for both peers that sees the project's venv (nothing in it is replaced); run from the project's venv.
# The .pth file goes into the new venv's own site-packages, wherever its Python version puts it.
SITE = "import site; print(site.getsitepackages()[0])"
INSTALL_ALL = (f"python -m venv .venv-peers && python -c '{SITE}' "
               f"> \"$(.venv-peers/bin/python -c '{SITE}')/main_venv.pth\" && . .venv-peers/bin/activate && "
               + INSTALL["stable-audio-tools"] + " && " + INSTALL["diffusers"].split(" (or")[0])

# name -> "module:Class"; a new peer is one module and one line here
STACKS: dict[str, str] = {
    "ours": "benchmarks.peers.ours:OursStack",
    "diffusers": "benchmarks.peers.diffusers_stack:DiffusersStack",
    "stable-audio-tools": "benchmarks.peers.sat_stack:SATStack",
}


def stack_class(name: str) -> Callable[..., Stack]:
    """The stack's class; raises :class:`PeerMissing` (reason + install command) when its package is absent."""
    module, cls = STACKS[name].split(":")
    return getattr(importlib.import_module(module), cls)


__all__ = ["INSTALL", "INSTALL_ALL", "STACKS", "PeerMissing", "Stack", "stack_class"]
