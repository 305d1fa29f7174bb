"""`python -m mpc_lib.cli`."""

from . import main

main()
