"""The base of every error a user can act on (shown as one line, never a traceback)."""


class TranslateError(Exception):
    """A mistake in the user's input, data, configuration or installed plugins."""
