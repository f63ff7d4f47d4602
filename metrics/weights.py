"""``python -m metrics.weights list|download|verify``: the command line of :mod:`metrics.embedding.weights`."""
import sys

from metrics.embedding.weights import main

if __name__ == "__main__":
    sys.exit(main())
