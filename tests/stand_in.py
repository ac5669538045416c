"""Stand-in checkouts of the books' repositories, written by the tests of `book run`."""

import textwrap


def write_scripts(root, scripts):
    """Write {relative path: source} under root (the sources dedented); returns
    {relative path: path}."""
    paths = {}
    for relative, source in scripts.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        paths[relative] = path
    return paths
