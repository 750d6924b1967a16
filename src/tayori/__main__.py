"""``python -m tayori``: the same command as the ``tayori`` console script."""

from tayori.cli import main

if __name__ == "__main__":
    main()
