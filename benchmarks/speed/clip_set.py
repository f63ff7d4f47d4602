"""The clips the peer speed suites time: ``SA_BENCH_CLIPS`` (default 8) music-like stereo 44.1 kHz clips of
``SA_BENCH_SECONDS`` (default 10) s each, timed over ``SA_BENCH_ROUNDS`` (default 3) rounds of the whole set (the
median is the figure: single rounds of one case differed by up to 12 % between two runs on an idle 2-core VM)."""
import os

CLIPS = int(os.environ.get("SA_BENCH_CLIPS", "8"))
SECONDS = float(os.environ.get("SA_BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("SA_BENCH_ROUNDS", "3"))
