"""The bases of what a user can act on: errors (one line, never a traceback) and warnings."""


class TranslateError(Exception):
    """A mistake in the user's input, data, configuration or installed plugins."""


class TranslateWarning(UserWarning):
    """Something the user should know about a run that still goes ahead (shown as one line by the CLI)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none), for one-line reports."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
