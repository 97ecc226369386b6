"""`python -m arc_trm_cli`: the same as the `arc-trm` command."""

from arc_trm_cli.app import main

main()
