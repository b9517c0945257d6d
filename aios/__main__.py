"""`python -m aios` is the same as the `aios` command."""

from aios.cli import main

main()
