"""The plugin host: finds plugins, holds the hook contract, and describes what plugins provide.

* :mod:`~translate.plugin_host.hookspecs` — the hooks a plugin may implement (the contract);
* :mod:`~translate.plugin_host.manager` — :class:`~translate.plugin_host.manager.PluginRegistry`: loads
  entry points and ``--plugin`` modules, reports clashes, blames a failing plugin;
* :mod:`~translate.plugin_host.wiring` — what to say when a plugin is wired wrongly;
* :mod:`~translate.plugin_host.catalog` and :mod:`~translate.plugin_host.catalog_cache` — what the
  installed plugins provide, as plain data, cached so ``translate plugins`` needs no torch.

Nothing here imports torch at import time. The built-in objectives live outside this package, in the
repository's ``plugins/`` folder (import package ``translate_plugins``), and travel the same road as a
third party's.
"""
