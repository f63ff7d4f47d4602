"""The clips the peer speed suites time: ``SA_BENCH_CLIPS`` (default 8) music-like stereo 44.1 kHz clips of
``SA_BENCH_SECONDS`` (default 10) s each, timed over ``SA_BENCH_ROUNDS`` (default 3) rounds of the whole set (the
median is the figure: a single round of one case moves by several percent between runs on a shared VM)."""
import os

CLIPS = int(os.environ.get("SA_BENCH_CLIPS", "8"))
SECONDS = float(os.environ.get("SA_BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("SA_BENCH_ROUNDS", "3"))
