"""The pure math of every metric: distances, statistics, the per-item scores."""
