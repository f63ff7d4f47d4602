"""``python -m benchmarks.audiocaps [--captions CSV] (--ckpt DIR | --gen-dir DIR) --out RUN``: see benchmarks.captions."""
import sys

from benchmarks.captions import main

if __name__ == "__main__":
    sys.exit(main("audiocaps"))
