"""Reading a JSON request body without letting it hurt the server.

Python's json module parses nested arrays by recursion: a body of 5,000 nested lists
(10 kB) raises RecursionError, which a web framework turns into a 500. No request of
this server needs more than a few levels (a drawing is a list of rows), so the nesting
depth is measured first, on the raw bytes, and anything deeper than MAX_DEPTH is
refused before the parser sees it.
"""

import json
import re

import numpy as np

__all__ = ["BodyError", "MAX_DEPTH", "json_depth", "parse_json_body"]

#: deepest nesting of arrays and objects any endpoint accepts (a drawing needs 2)
MAX_DEPTH = 32

# A JSON string: brackets inside it are text, not structure.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


class BodyError(ValueError):
    """The request body is not JSON this server will parse; the message says why."""


def json_depth(raw):
    """The deepest nesting of [ and { in raw JSON bytes (0 for a bare number).

    Strings are removed first so that brackets inside them do not count. An
    unterminated string leaves its brackets in, which can only overestimate, and such
    a body is not valid JSON anyway.
    """
    structure = np.frombuffer(_STRING.sub(b'""', raw), dtype=np.uint8)
    if structure.size == 0:
        return 0
    opens = (structure == ord("[")) | (structure == ord("{"))
    closes = (structure == ord("]")) | (structure == ord("}"))
    depth = np.cumsum(opens.astype(np.int64) - closes.astype(np.int64))
    return int(depth.max(initial=0))


def parse_json_body(raw, max_depth=MAX_DEPTH):
    """The value in a request body (bytes), or BodyError saying what is wrong with it."""
    if not isinstance(raw, (bytes, bytearray)):
        raise BodyError("the request body must be bytes")
    depth = json_depth(bytes(raw))
    if depth > max_depth:
        raise BodyError(f"the request body is nested {depth} levels deep; "
                        f"at most {max_depth} are accepted")
    try:
        return json.loads(raw)
    except RecursionError:  # a backstop: the depth check above should catch it first
        raise BodyError("the request body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise BodyError("the request body is not valid JSON") from None
