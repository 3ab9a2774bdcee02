"""One place that turns an exception into the one line a user reads (CLI ``error: ...``, GUI message).

User errors (a bad file, a bad argument, a folder that cannot be written) are the exceptions
the program raises on purpose, with a message that names the file and what is wrong:
``ValueError`` (``ImageError``, ``VideoError``), ``CheckpointError``, ``KeyError`` and ``OSError``
(whose message gets the path and the system's reason). Anything else is a bug: it is still
one line, marked as an internal error; ``FACESR_DEBUG=1`` shows the traceback.
"""
from __future__ import annotations

import os

USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, OSError, RuntimeError)
MAX_CHARS = 500


def is_user_error(exc: BaseException) -> bool:
    return isinstance(exc, USER_ERRORS)


def describe(exc: BaseException) -> str:
    """``exc`` as one line: the message (multi-line ones joined with ``; ``), at most :data:`MAX_CHARS`."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
        if exc.filename2 is not None:
            text = f"{exc.filename} -> {exc.filename2}: {exc.strerror}"
    elif isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        text = exc.args[0]
    else:
        text = str(exc) or type(exc).__name__
    notes = getattr(exc, "__notes__", None) or []
    lines = [ln.strip() for part in [text, *notes] for ln in part.splitlines() if ln.strip()]
    text = "".join(ln + ("" if i == len(lines) - 1 else " " if ln.endswith(":") else "; ")
                   for i, ln in enumerate(lines))
    if not is_user_error(exc):
        text = f"internal error ({type(exc).__name__}: {text}); FACESR_DEBUG=1 shows where"
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS - 3] + "..."


def debug() -> bool:
    """Whether ``FACESR_DEBUG`` asks for tracebacks."""
    return os.environ.get("FACESR_DEBUG", "") not in ("", "0")
