"""``python -m paperwire`` runs the CLI."""

from .cli import main

main()
