"""Helpers every layer of sa-bench shares (``metrics``, ``sa_core``, ``benchmarks``, ``reports``): command lines,
files, paths, devices, audio files and ids. No project import (``tests/test_import_graph.py`` checks); heavy
packages (numpy, soundfile, torch) are imported only by the modules that need them."""
