"""A BERT encoder exported to ONNX by torch (as sentence-transformers models are shipped) back into a transformers
folder: named initializers keep their module paths; each linear layer's weight is an anonymous ``MatMul`` input,
named here by the bias that the following ``Add`` adds (``...query.bias`` -> ``...query.weight``, transposed)."""
from __future__ import annotations

from pathlib import Path

import torch

PREFIX = "auto_model."  # sentence-transformers' module path up to the BertModel


def bert_state_dict(model) -> dict[str, torch.Tensor]:
    """transformers ``BertModel`` state dict (no pooler) from a loaded ``onnx.ModelProto``."""
    from onnx import numpy_helper

    graph = model.graph
    inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    state = {name.split(PREFIX, 1)[1]: t for name, t in inits.items() if PREFIX in name}
    for node in graph.node:
        weights = [i for i in node.input if i in inits and PREFIX not in i]
        if node.op_type != "MatMul" or not weights:
            continue
        (add,) = consumers[node.output[0]]
        bias = next(i for i in add.input if i.endswith(".bias") and PREFIX in i)
        state[bias.split(PREFIX, 1)[1][: -len("bias")] + "weight"] = inits[weights[0]].T.contiguous()
    return state


def layer_norm_eps(model) -> float:
    eps = {a.f for n in model.graph.node if n.op_type == "LayerNormalization" for a in n.attribute
           if a.name == "epsilon"}
    if len(eps) != 1:
        raise ValueError(f"expected one LayerNorm epsilon in the ONNX graph, found {sorted(eps)}")
    return float(eps.pop())


def write_bert_folder(onnx_file: Path, out: Path, heads: int = 12) -> None:
    """``out``: config.json + model.safetensors of the BERT encoder in ``onnx_file`` (``heads``: its attention
    heads, which the weights do not show; paraphrase-MiniLM-L3-v2 has 12)."""
    import onnx
    from transformers import BertConfig, BertModel

    model = onnx.load(str(onnx_file))
    state = bert_state_dict(model)
    vocab, hidden = state["embeddings.word_embeddings.weight"].shape
    config = BertConfig(vocab_size=vocab, hidden_size=hidden,
                        num_hidden_layers=1 + max(int(k.split(".")[2]) for k in state if k.startswith("encoder.")),
                        num_attention_heads=heads, intermediate_size=state["encoder.layer.0.intermediate.dense.bias"].numel(),
                        max_position_embeddings=state["embeddings.position_embeddings.weight"].shape[0],
                        type_vocab_size=state["embeddings.token_type_embeddings.weight"].shape[0],
                        layer_norm_eps=layer_norm_eps(model))
    bert = BertModel(config)
    state.pop("embeddings.position_ids", None)
    # the export drops the unused pooler; zeros keep the folder complete (its output is never read)
    state.update({k: torch.zeros_like(v) for k, v in bert.state_dict().items() if k.startswith("pooler.")})
    missing, unexpected = bert.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if k != "embeddings.position_ids"]:
        raise ValueError(f"ONNX BERT does not map onto BertModel: missing {missing}, unexpected {unexpected}")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Writing model shards" on stderr
    try:
        bert.save_pretrained(str(out))
    finally:
        hf_logging.enable_progress_bar()
