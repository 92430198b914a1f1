"""``python -m benchmark.asr [n_items]``: the measurement in ``docs/asr.md``."""

import sys

from benchmark.asr.measure import main

main(sys.argv[1:])
