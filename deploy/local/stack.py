#!/usr/bin/env python3
"""Kept so that `python deploy/local/stack.py up|down|status` works as before.

The local stack now ships inside the package (`interaction_pipeline.stack`, with its Maven POM
and log4j config as package data), so `interactions stack ...` works from an installed wheel
too. This script only forwards to it.
"""

import sys

from interaction_pipeline.stack import main

if __name__ == "__main__":
    sys.exit(main())
