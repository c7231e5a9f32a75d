"""`python -m loyalty.cli` (used by tests that run the CLI in a subprocess)."""

from loyalty.cli import main

main()
