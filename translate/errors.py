"""The bases of what a user can act on: errors (one line, never a traceback) and warnings."""


class TranslateError(Exception):
    """A mistake in the user's input, data, configuration or installed plugins."""


class TranslateWarning(UserWarning):
    """Something the user should know about a run that still goes ahead (shown as one line by the CLI)."""
