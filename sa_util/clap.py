"""LAION-CLAP built offline from local files: the network both the CLAP score (:mod:`metrics.embedding.embedders.clap`) and
the CLAP text conditioning (:mod:`sa_core.text_encoders`) run.

laion_clap reaches the Hugging Face hub at import (module-level tokenizers in ``training/data.py``) and at
construction (``RobertaModel.from_pretrained('roberta-base')``, ``RobertaTokenizer.from_pretrained``). We import and
build it inside :func:`offline_transformers`, which, for that block only, makes those calls build the RoBERTa
architecture from its config and return our tokenizer read from a local folder. Its text weights come from the CLAP
checkpoint itself. Nothing waits on the network, and the patches are undone on exit.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from sa_util.state_dict import load_state_strict, read_weights

if TYPE_CHECKING:
    import torch

ROBERTA_BASE = dict(vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
                    pad_token_id=1, bos_token_id=0, eos_token_id=2)


def load_tokenizer(roberta_dir: Path) -> Any:
    """RoBERTa tokenizer from a local folder; refuses the silently empty tokenizer transformers can return."""
    from transformers import RobertaTokenizer

    tok = RobertaTokenizer.from_pretrained(str(roberta_dir), local_files_only=True)
    if len(tok("a dog barking")["input_ids"]) <= 2:
        raise ValueError(f"the tokenizer in {roberta_dir} is empty ({len(tok)} tokens): it needs tokenizer.json "
                         "(or vocab.json + merges.txt) of roberta-base; see `python -m metrics.weights list`")
    return tok


@contextlib.contextmanager
def offline_transformers(tokenizer: Any, roberta_config: dict[str, Any]) -> Iterator[None]:
    """Within the block, hub loaders of the classes laion_clap uses return local objects instead."""
    from transformers import BartTokenizer, BertTokenizer, RobertaConfig, RobertaModel, RobertaTokenizer

    replacements = {  # in transformers 5 some tokenizer names are one class: RobertaTokenizer must come last
        BertTokenizer: classmethod(lambda cls, *a, **k: None),  # training-only globals in laion_clap.training.data
        BartTokenizer: classmethod(lambda cls, *a, **k: None),
        RobertaModel: classmethod(lambda cls, *a, **k: RobertaModel(RobertaConfig(**roberta_config))),
        RobertaTokenizer: classmethod(lambda cls, *a, **k: tokenizer),
    }
    saved = {cls: cls.__dict__.get("from_pretrained") for cls in replacements}
    try:
        for cls, loader in replacements.items():
            cls.from_pretrained = loader
        yield
    finally:
        for cls, original in saved.items():
            if original is None:
                del cls.from_pretrained
            else:
                cls.from_pretrained = original


def htsat_factory() -> Any:
    """laion_clap's ``create_htsat_model(audio_cfg)`` (the HTS-AT audio tower), imported offline."""
    with offline_transformers(None, ROBERTA_BASE):
        from laion_clap.clap_module.htsat import create_htsat_model
    return create_htsat_model


def load_clap_state_dict(path: Path, expected: str = "a laion_clap checkpoint") -> dict[str, torch.Tensor]:
    """Official laion_clap checkpoint -> model state dict (``weights_only``; 'module.' and position_ids dropped)."""
    ckpt = read_weights(path, expected)
    state = ckpt["state_dict"] if isinstance(ckpt, dict) and "state_dict" in ckpt else ckpt
    if not isinstance(state, dict):
        raise ValueError(f"{path}: holds a {type(state).__name__}, not a state dict; expected {expected}")
    state = {(k[7:] if isinstance(k, str) and k.startswith("module.") else k): v for k, v in state.items()}
    state.pop("text_branch.embeddings.position_ids", None)  # a buffer, not a parameter, in transformers >= 4.31
    return state


def build_clap(fusion: bool, amodel: str, roberta_dir: Path, weights_path: Path | None, device: str = "cpu",
               expected: str = "a laion_clap checkpoint") -> Any:
    """laion_clap's ``CLAP_Module`` (``fusion``, audio model ``amodel``) in eval mode, tokenizer read from
    ``roberta_dir``, the checkpoint ``weights_path`` loaded strictly (None: random weights, for tests)."""
    tokenizer = load_tokenizer(roberta_dir)
    with offline_transformers(tokenizer, ROBERTA_BASE):
        import laion_clap

        module = laion_clap.CLAP_Module(enable_fusion=fusion, amodel=amodel, device=device)
    module.tokenize = tokenizer
    if weights_path is not None:
        expected = f"{expected} ({amodel}, {'fusion' if fusion else 'no fusion'})"
        load_state_strict(module.model, load_clap_state_dict(weights_path, expected), weights_path, expected)
    return module.eval()
