"""Writing files whole or not at all, and reading only what is a file.

Every file chainrule writes (checkpoints, parsed data, pictures, graphs) is written to a
temporary file beside its final name and renamed into place only when complete: a crash,
a full disk or Ctrl-C half-way leaves the old file (or none), never half of a new one.
The rename is atomic because both names are in the same folder.

Before chainrule opens a file a user names, `not_a_regular_file` says whether it is one:
a FIFO would block the open for ever, and /dev/zero would be read without end.
"""

import contextlib
import os
import secrets
import stat

__all__ = ["atomic_file", "not_a_regular_file", "read_npy_header"]


def read_npy_header(f):
    """(shape, fortran_order, dtype) from the .npy header at f's position, reading nothing
    of the data (so its size can be checked before anything is allocated); ValueError
    saying what is wrong. Only the header formats 1.0 and 2.0 are read."""
    from numpy.lib import format as npy
    try:
        version = npy.read_magic(f)
        if version == (1, 0):
            return npy.read_array_header_1_0(f)
        if version == (2, 0):
            return npy.read_array_header_2_0(f)
    except (ValueError, SyntaxError, TypeError, EOFError) as exc:
        raise ValueError(str(exc)) from None
    raise ValueError(f"unsupported .npy version {version}")


def not_a_regular_file(path, what="file"):
    """Why `path` cannot be read as a `what` (missing, a folder, a FIFO or device), or None."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"{path}: no such file"
    except OSError as exc:
        return f"{path}: cannot be read ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return f"{path}: is a directory, not a {what}"
    if not stat.S_ISREG(mode):
        return f"{path}: not a regular file (a device, FIFO or socket), so not a {what}"
    return None


@contextlib.contextmanager
def atomic_file(path, sync=False):
    """Yield a new binary file beside `path`; rename it to `path` if the block succeeds.

    The temporary name is unique per process and call, so concurrent writers never share
    one, and `open(..., "xb")` gives the file the mode any new file gets (umask). With
    sync=True the data is flushed to disk before the rename, for files whose loss would
    cost work (checkpoints). A missing folder is reported by name. A symbolic link is
    followed: its target is replaced, the link stays.
    """
    path = os.fspath(path)
    if os.path.islink(path):
        # Write where the link points; renaming onto the link would replace the link.
        path = os.path.realpath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {path}: the folder {directory} does not exist")
    temp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}-"
                                   f"{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "xb") as f:
            yield f
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
