"""`python -m tisa` runs the CLI."""

from tisa.cli.main import main

main()
