"""``python -m figures``: see :mod:`figures.cli`."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
