"""`python -m sam_cli.train ...` (and `torchrun ... -m sam_cli.train ...`): `sam train` on its own."""

from sam_cli.train.command import main

main()
