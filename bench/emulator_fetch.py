"""Benchmark: the emulator's worker fetches per second on one core, and its RSS with 15,000 workers.

Folded into the suite as its "emulator" section: the emulator now runs as its own process (taskrouter-emulator),
pinned alone to one core, with the load from a separate process on the other. This script runs just that
section, prints its table and writes bench/results/emulator.json:

    .venv/bin/python bench/emulator_fetch.py [--size smoke|full] [--output FILE]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a file: make `bench` importable
    from bench.__main__ import RESULTS_DIR, main

    output = [] if "--output" in sys.argv else ["--output", str(RESULTS_DIR / "emulator.json")]
    sys.exit(main(["--only", "emulator", *output, *sys.argv[1:]]))
