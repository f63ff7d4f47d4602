import json

import pytest

from sa_core.config import ConfigError, DiTConfig, ModelConfig, from_dict, override, preset, to_dict
from sa_core.info import main as info_main


def test_round_trip_every_preset():
    for name in ("stable-audio-1.0", "stable-audio-open-1.0", "tiny"):
        cfg = preset(name)
        assert from_dict(ModelConfig, json.loads(json.dumps(to_dict(cfg)))) == cfg


@pytest.mark.parametrize("data, message", [
    ({"dit": {"depht": 3}}, r"ModelConfig.dit: unknown key\(s\) \['depht'\]"),
    ({"dit": {"depth": "3"}}, r"ModelConfig.dit.depth: expected int, got str"),
    ({"dit": {"depth": True}}, r"expected int, got bool"),
    ({"backbone": "lstm"}, r"'lstm' is not one of \['dit', 'unet'\]"),
    ({"autoencoder": {"strides": 4}}, r"expected a list"),
    ({"conditioning": {"text": {"kind": "bert"}}}, r"'bert' is not one of"),
])
def test_strict_config_errors(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(ModelConfig, data)


def test_override_is_strict_too():
    cfg = override(preset("tiny"), {"dit.depth": 3, "sample_size": 32768})
    assert cfg.dit.depth == 3 and cfg.sample_size == 32768
    with pytest.raises(ConfigError, match="unknown key 'detph'"):
        override(preset("tiny"), {"dit.detph": 3})
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("stable-audio-2")
    assert DiTConfig().embed_dim // DiTConfig().num_heads == 64


def test_info_cli_prints_paper_parameter_counts(capsys):
    assert info_main(["stable-audio-open-1.0", "--json"]) == 0
    sao = json.loads(capsys.readouterr().out)
    assert round(sao["parameters"]["backbone"] / 1e6) == 1057 and round(sao["parameters"]["autoencoder"] / 1e6) == 156
    assert sao["latent_length"] == 1024 and sao["max_seconds"] == pytest.approx(47.55, abs=0.01)
    assert info_main(["stable-audio-1.0", "--json"]) == 0
    sa1 = json.loads(capsys.readouterr().out)
    assert round(sa1["parameters"]["backbone"] / 1e6) == 907 and sa1["max_seconds"] == pytest.approx(95.1, abs=0.1)
    assert info_main(["nonsense"]) == 2


def test_public_entry_points():
    import metrics
    import sa_core
    from sa_core.model import load_model

    assert sa_core.load_model is load_model
    assert metrics.frechet_distance([0.0], [[1.0]], [1.0], [[1.0]]) == pytest.approx(1.0)
