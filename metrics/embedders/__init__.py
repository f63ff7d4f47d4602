"""Evaluator models behind the :class:`metrics.embedder.Embedder` interface, one module per model family."""
