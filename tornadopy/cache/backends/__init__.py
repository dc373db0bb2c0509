"""Cache backends; each module holds one (see :mod:`tornadopy.cache.backends.base`)."""
