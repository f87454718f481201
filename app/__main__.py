"""`python -m app` runs the `steward` command."""
from app.cli import main

main()
