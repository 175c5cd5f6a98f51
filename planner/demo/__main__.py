"""``python -m planner.demo [OUT_DIR]``: write the Fujian demo tables (default: the packaged demo folder)."""

import sys

from planner.demo.scenario import generate, write

for p in write(generate(), sys.argv[1] if len(sys.argv) > 1 else None):
    print(p)
