"""FD_openl3, KL_passt, CLAP score and timing accuracy as the published protocol computes them.

Light to import: models and their packages load only when an embedder is first used.
"""
from metrics.scores.distances import (ReferenceGaussian, fad_inf, frechet_distance, kernel_audio_distance, kl_divergence,
                                      median_pairwise_distance, per_item_fd)

__all__ = ["ReferenceGaussian", "fad_inf", "frechet_distance", "kernel_audio_distance", "kl_divergence",
           "median_pairwise_distance", "per_item_fd"]
