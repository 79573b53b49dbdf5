"""``python -m translate`` (also what ``torchrun -m translate`` runs)."""

from translate.cli import main

main(prog_name="translate")
