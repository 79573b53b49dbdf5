"""translate: plugin-based image-to-image translation (pix2pix, CycleGAN, ...).

Plugins mark their hook implementations with :data:`hookimpl`; the contract is
documented in :mod:`translate.plugin_host.hookspecs`. Importing this package is cheap: torch
is imported only by the modules that need it.
"""

from importlib.metadata import PackageNotFoundError, version

import pluggy

#: Marker for plugin hook implementations: ``@translate.hookimpl``.
hookimpl = pluggy.HookimplMarker("translate")

#: The distribution that ships the ``translate`` import package.
DISTRIBUTION = "image-translate"

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["DISTRIBUTION", "__version__", "hookimpl"]
