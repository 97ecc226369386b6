"""The `arc-trm` command line (arc_trm_cli): thin Typer commands over the arc_trm library."""

import time

STARTED = time.monotonic()  # the command's start, before any heavy import: `--time-budget` counts from here
