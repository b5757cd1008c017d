"""`python -m coordinator` is the `tocsin` command."""

from coordinator.cli import main

main()
