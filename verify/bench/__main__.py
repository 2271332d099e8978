"""``python -m verify.bench``: see :func:`verify.bench.linearize.main`."""

from verify.bench.linearize import main

if __name__ == "__main__":
    raise SystemExit(main())
