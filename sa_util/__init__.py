"""Helpers every layer of sa-bench shares (``metrics``, ``sa_core``, ``benchmarks``, ``reports``): no model, no
project import, standard library only at import time (``state_dict.py`` imports torch inside its functions)."""
