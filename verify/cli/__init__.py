"""The ``verify`` command (``python -m verify``)."""

from verify.cli.common import main

__all__ = ["main"]
