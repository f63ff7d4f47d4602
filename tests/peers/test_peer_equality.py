"""Ours against diffusers and stable-audio-tools on one random-weight stable-audio-open-layout checkpoint (2 DiT
blocks, SAO's widths and VAE): the DiT's v-prediction without and with CFG and the VAE decode agree to fp32
rounding; a whole dpmpp-2m generation agrees where the peer's sampler is the same mathematics (stable-audio-tools).

Peers are optional: each test skips with the reason and the install command where its peer is absent
(``benchmarks.peers.INSTALL``).
"""
from __future__ import annotations

import pytest
import torch

from benchmarks.peers import INSTALL, STACKS, PeerMissing, stack_class
from benchmarks.peers.checkpoint import sao_config_dict, small_sao_config, write_random_t5, write_sao_checkpoint
from benchmarks.peers.equality import Inputs, outputs, rel_diff
from sa_core.config import override, preset
from sa_core.model import from_sao_config

PEERS = [name for name in STACKS if name != "ours"]
FP32_ROUNDING = 1e-5  # observed: 0 to 2e-6 (DiT, CFG, VAE), 4e-6 after 4 solver steps
CFG = small_sao_config(18432)  # 9 latents, 0.42 s


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    root = tmp_path_factory.mktemp("peers")
    ckpt = write_sao_checkpoint(root / "ckpt", CFG)
    t5 = write_random_t5(root / "t5", num_layers=2)
    inp = Inputs.make(CFG, steps=4)
    return ckpt, t5, inp, outputs("ours", ckpt, t5, inp)


@pytest.fixture(scope="module", params=PEERS)
def peer(request):
    try:
        stack_class(request.param).check()  # before building anything: a missing peer costs nothing
    except PeerMissing as exc:
        pytest.skip(str(exc))
    ckpt, t5, inp, ours = request.getfixturevalue("shared")
    return request.param, outputs(request.param, ckpt, t5, inp), ours


def test_sao_layout_config_reads_back_as_the_config_it_came_from():
    for cfg in (preset("stable-audio-open-1.0"), CFG):
        assert from_sao_config(sao_config_dict(cfg)) == override(cfg, {"name": "stable-audio-open-1.0"})


def test_non_sao_configs_have_no_sao_layout():
    with pytest.raises(ValueError, match="only DiT"):
        sao_config_dict(preset("tiny"))


def test_ours_outputs_are_not_degenerate(shared):
    """The equality below would hold trivially if CFG did nothing or the text did not reach the DiT."""
    *_, ours = shared
    assert rel_diff(ours["dit_cfg"], ours["dit"]) > 0.1
    assert torch.isfinite(ours["generation"]).all() and ours["vae_decode"].abs().max() > 0


@pytest.mark.parametrize("output", ["dit", "dit_cfg", "vae_decode"])
def test_peer_matches_ours(peer, output):
    name, theirs, ours = peer
    assert rel_diff(theirs[output], ours[output]) < FP32_ROUNDING, (name, output)


def test_generation_matches_where_the_sampler_is_the_same(peer):
    name, theirs, ours = peer
    if not stack_class(name).sampler.same_as_ours:
        pytest.skip(f"{name}'s sampler ({stack_class(name).sampler.note}) differs from ours: compared for speed only")
    assert rel_diff(theirs["generation"], ours["generation"]) < FP32_ROUNDING


def test_a_missing_diffusers_script_names_the_install_command(monkeypatch, tmp_path):
    pytest.importorskip("diffusers", reason=f"diffusers absent; install: {INSTALL['diffusers']}")
    from benchmarks.peers.diffusers_stack import CONVERT_ENV, convert_script

    monkeypatch.setenv(CONVERT_ENV, str(tmp_path / "nowhere.py"))
    with pytest.raises(PeerMissing, match="pip install --no-deps diffusers==0.42.1"):
        convert_script()
