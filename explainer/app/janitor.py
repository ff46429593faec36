"""Give a session's memory back to the system when the session ends.

Streamlit drops a session's state ``server.disconnectedSessionTTL`` seconds (default 120) after
its browser left; what the state held (uploaded models, their results, pictures) is then free
for Python, but not yet for the system: objects in reference cycles wait for the cyclic
collector, and glibc keeps freed heap pages in its arenas, so the server's resident memory stays
where the busiest moment left it. :func:`watch_session` (called on every run) puts a marker in
the session's state; when the state is dropped the marker's finalizer asks :func:`release` to
run :data:`DELAY_S` seconds later (once for many sessions ending together): a full garbage
collection, then ``malloc_trim(0)`` (glibc only), which hands the freed pages back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
import weakref

import streamlit as st

DELAY_S = 2.0  # after the last session ended in a burst, before the collection
MARK = "_memory_marker"

_lock = threading.Lock()
_timer: threading.Timer | None = None
released = 0  # how many times release() ran (for tests and benchmarks)


class _Marker:
    """Lives exactly as long as one session's state."""


def watch_session() -> None:
    """Mark this session (once): its end will give its memory back (see the module)."""
    if MARK not in st.session_state:
        marker = _Marker()
        weakref.finalize(marker, session_ended)
        st.session_state[MARK] = marker


def session_ended() -> None:
    """Schedule :func:`release` in :data:`DELAY_S` seconds (a pending one is pushed back)."""
    global _timer
    with _lock:
        if _timer is not None:
            _timer.cancel()
        _timer = threading.Timer(DELAY_S, release)
        _timer.daemon = True
        _timer.start()


def release() -> None:
    """Collect the garbage, then return free heap pages to the system (glibc's
    ``malloc_trim``; elsewhere only the collection)."""
    global released
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    released += 1


def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        return None
