"""Helpers shared by the reliability suite's Python tools (standard library
only)."""


def read(path):
    """The stripped text of a file, "" if it cannot be read (a registry
    entry of a node that is down or not written yet)."""
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""
