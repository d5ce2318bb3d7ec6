"""`python -m tisa` runs the CLI."""

from tisa.cli.commands import main

main()
