"""Gradio, imported with everything that would reach the internet switched off.

Gradio sends usage analytics and checks PyPI-like servers for a newer version unless
``GRADIO_ANALYTICS_ENABLED`` is ``False``, and its Hugging Face client may call the hub; a demo
of local runs needs none of it (and on a closed network each would hang or fail). The page itself
loads its scripts, styles and fonts from the local server: Gradio's default theme uses fonts it
ships, and the page is built without share links, the MCP server or server-side rendering.
"""

from __future__ import annotations

import os
from types import ModuleType

from translate.errors import TranslateError

#: Set before Gradio is imported, whatever they were: no analytics or version check, no hub calls.
OFFLINE_ENVIRONMENT = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}
#: What to install for ``translate demo``.
INSTALL_HINT = "pip install 'image-translate[demo]' (Gradio)"


def require_gradio() -> ModuleType:
    """The ``gradio`` module, imported offline (:data:`OFFLINE_ENVIRONMENT`), or a one-line error saying what to
    install."""
    os.environ.update(OFFLINE_ENVIRONMENT)
    try:
        import gradio
    except ImportError:
        raise TranslateError(f"translate demo needs the 'demo' extra: {INSTALL_HINT}") from None
    return gradio
