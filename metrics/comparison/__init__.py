"""Is A better than B: paired comparisons, power, agreement with human ratings."""
