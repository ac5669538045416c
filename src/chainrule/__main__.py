"""`python -m chainrule` is the `chainrule` command."""

import sys


def main(argv=None):
    """The command, with its own import inside: Ctrl-C while NumPy and chainrule load
    (the first few tenths of a second) ends the command quietly, with status 130."""
    try:
        from .cli import main as command
    except KeyboardInterrupt:
        return 130
    return command(argv)


if __name__ == "__main__":
    sys.exit(main())
