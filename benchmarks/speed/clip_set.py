"""The clips the peer speed suites time: ``SA_BENCH_CLIPS`` (default 8) music-like stereo 44.1 kHz clips of
``SA_BENCH_SECONDS`` (default 10) s each."""
import os

CLIPS = int(os.environ.get("SA_BENCH_CLIPS", "8"))
SECONDS = float(os.environ.get("SA_BENCH_SECONDS", "10"))
