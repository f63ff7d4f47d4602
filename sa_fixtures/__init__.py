"""Synthetic data and random-weight writers for the demo, the tests and the speed suites: ``clips.py`` (every clip
generator and the wav writer), ``random_weights.py`` (evaluator files with random weights in the official formats)
and ``timing_cases.py`` (signals with known ends, the timing detector's acceptance grid). Nothing here is needed to
evaluate real audio; ``python -m metrics demo`` is the one library command that reads it."""
