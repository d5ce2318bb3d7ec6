"""`python -m tisa` runs the CLI."""

from tisa.cli import main

main()
