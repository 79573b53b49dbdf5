"""Translation models; each module is a plugin registered through the ``translate`` entry points."""
