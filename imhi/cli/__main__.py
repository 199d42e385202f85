"""``python -m imhi.cli ARGS``: the same as the ``imhi`` script."""

from imhi.cli import main

main()
