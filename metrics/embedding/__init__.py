"""Embeddings: the evaluator networks (registry in embedders/), batching and per-file isolation, the cache, precision and compilation."""
