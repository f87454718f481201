"""`python -m app` runs the `steward` command."""
from app.cli.commands import main

main()
