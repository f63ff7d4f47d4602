"""FD_openl3, KL_passt, CLAP score and timing accuracy as the published protocol computes them.

Light to import: models and their packages load only when an embedder is first used.
"""
from metrics.distances import frechet_distance, kl_divergence

__all__ = ["frechet_distance", "kl_divergence"]
