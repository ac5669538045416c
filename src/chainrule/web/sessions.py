"""Learning sessions: each browser's own in-memory copy of the network.

"Learn" on the drawing page changes weights, and it must change them for that browser
only, never in the loaded network (the file on disk is never touched at all). A
session is a deep copy of the loaded network plus the optimizer that steps it; it is
made at the first "learn" and dropped at "reset". Copies cost memory, so a
SessionStore holds at most `max_sessions` of them and at most `max_bytes` of arrays in
all (parameters, optimizer state and the layers' per-call caches, measured, not
estimated); to make room, the session used longest ago is dropped first. A dropped
session's id then answers "unknown session", and the page starts again from the
loaded weights.
"""

import copy
import re
import secrets
import threading
import time
from collections import OrderedDict

import numpy as np

__all__ = ["SessionStore", "Session", "SessionError", "UnknownSession", "array_bytes",
           "check_session_id", "MAX_SESSIONS", "MAX_SESSION_BYTES"]

MAX_SESSIONS = 32
MAX_SESSION_BYTES = 256 * 1024 * 1024

# secrets.token_urlsafe(16) gives 22 characters of this alphabet.
_ID = re.compile(r"[A-Za-z0-9_-]{22}")


class SessionError(ValueError):
    """A session id that is not one this server could have given (a 400)."""


class UnknownSession(LookupError):
    """A well-formed session id that is not (or no longer) held here (a 404)."""


def check_session_id(value):
    """value if it has the form of a session id, else SessionError."""
    if not isinstance(value, str):
        raise SessionError(f'"session" must be a string, got {type(value).__name__}')
    if not _ID.fullmatch(value):
        raise SessionError('"session" is not a session id this server gives '
                           "(22 characters of A-Z, a-z, 0-9, - and _)")
    return value


def array_bytes(*objects):
    """Bytes of all the NumPy arrays reachable from objects, each buffer counted once.

    Walks dicts, lists, tuples and the attributes of plain objects (a network, its
    layers, an optimizer); a view counts as the array it views.
    """
    seen_objects, seen_buffers = set(), set()
    total = 0
    stack = list(objects)
    while stack:
        obj = stack.pop()
        if id(obj) in seen_objects:
            continue
        seen_objects.add(id(obj))
        if isinstance(obj, np.ndarray):
            root = obj
            while isinstance(root.base, np.ndarray):
                root = root.base
            if id(root) not in seen_buffers:
                seen_buffers.add(id(root))
                total += root.nbytes
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            stack.extend(vars(obj).values())
    return total


class Session:
    """One browser's copy of the network, its optimizer and how many steps it took.

    `lock` makes the steps and passes of this copy take turns: layers keep per-call
    state, so two requests of one browser must not run through them at once.
    """

    def __init__(self, session_id, model, optimizer):
        self.id = session_id
        self.model = model
        self.optimizer = optimizer
        self.steps = 0
        self.lock = threading.Lock()
        self.bytes = array_bytes(model, optimizer)
        self.last_used = time.monotonic()


class SessionStore:
    """At most max_sessions sessions and max_bytes of their arrays; oldest out first.

    Thread-safe. "Oldest" is the session used longest ago: every get() refreshes one.
    """

    def __init__(self, max_sessions=MAX_SESSIONS, max_bytes=MAX_SESSION_BYTES):
        if isinstance(max_sessions, bool) or int(max_sessions) != max_sessions or max_sessions < 1:
            raise ValueError(f"max_sessions must be a positive integer, got {max_sessions!r}")
        if not max_bytes > 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes!r}")
        self.max_sessions = int(max_sessions)
        self.max_bytes = int(max_bytes)
        self._sessions = OrderedDict()   # id -> Session, least recently used first
        self._lock = threading.Lock()
        self.dropped = 0                 # sessions dropped to make room, for the curious

    def __len__(self):
        with self._lock:
            return len(self._sessions)

    def total_bytes(self):
        with self._lock:
            return sum(s.bytes for s in self._sessions.values())

    def stats(self):
        with self._lock:
            return {"sessions": len(self._sessions),
                    "bytes": sum(s.bytes for s in self._sessions.values()),
                    "max_sessions": self.max_sessions, "max_bytes": self.max_bytes,
                    "dropped": self.dropped}

    def get(self, session_id):
        """The session with this id, marked as just used; UnknownSession if none."""
        check_session_id(session_id)
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                raise UnknownSession("unknown session: it may have been dropped to make "
                                     "room for newer ones; start again from the loaded "
                                     "weights")
            self._sessions.move_to_end(session_id)
            session.last_used = time.monotonic()
            return session

    def create(self, model, lock, optimizer):
        """A new session holding a deep copy of model (copied while holding `lock`).

        Older sessions are dropped to make room. MemoryError if one copy alone is
        larger than max_bytes.
        """
        with lock:
            own = copy.deepcopy(model)
        session = Session(secrets.token_urlsafe(16), own, optimizer)
        if session.bytes > self.max_bytes:
            raise MemoryError(f"a learning copy of this network takes {session.bytes:,} "
                              f"bytes, more than the {self.max_bytes:,} allowed for "
                              f"all sessions")
        with self._lock:
            self._sessions[session.id] = session
            self._make_room(keep=session.id)
        return session

    def remeasure(self, session):
        """Count session's arrays again after a step (optimizer state, caches grow)."""
        size = array_bytes(session.model, session.optimizer)
        with self._lock:
            session.bytes = size
            if session.id in self._sessions:
                self._make_room(keep=session.id)

    def drop(self, session_id):
        """Forget a session (reset); UnknownSession if there was none."""
        check_session_id(session_id)
        with self._lock:
            if self._sessions.pop(session_id, None) is None:
                raise UnknownSession("unknown session: nothing to reset (it may have been "
                                     "dropped already); the loaded weights are in use")

    def _make_room(self, keep):
        # Called with self._lock held.
        def over():
            return (len(self._sessions) > self.max_sessions or
                    sum(s.bytes for s in self._sessions.values()) > self.max_bytes)
        while over():
            oldest = next(iter(self._sessions))
            if oldest == keep:
                if len(self._sessions) == 1:
                    # Alone and still too big: it cannot be kept either.
                    del self._sessions[oldest]
                    self.dropped += 1
                    return
                self._sessions.move_to_end(keep)
                continue
            del self._sessions[oldest]
            self.dropped += 1
