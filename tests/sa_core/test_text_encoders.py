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
