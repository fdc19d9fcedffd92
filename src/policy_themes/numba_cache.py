"""Numba's ``njit``, whose on-disk cache falls back to compiling in memory when it cannot be used.

With ``cache=True`` Numba keeps the machine code of a compiled function in files (under
``NUMBA_CACHE_DIR``, else beside the module, else in the user's cache folder), so that only the
first run compiles. It gives up when that cache cannot be used: with no folder it can write,
importing the module fails; a damaged file (garbage, a truncated write, a folder where a file
should be) makes every call of the function fail, run after run.

:func:`njit` here is Numba's with a cache that gives up on itself instead: the first time the
cache cannot be created, read or written, caching is switched off for the rest of the process
with one :class:`NumbaCacheWarning`, and functions compile in memory (a few seconds a run).
The cache's index files are pickles: a cache folder others can write is as trusted as code.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

__all__ = ["njit", "NumbaCacheWarning", "cache_disabled", "cache_is_empty"]

_STATE = {"disabled": False}
_CACHED: list = []  # the dispatchers with a cache, to look into (cache_is_empty)


class NumbaCacheWarning(UserWarning):
    """Numba's cache cannot be used: functions compile in memory in this process."""


def cache_disabled() -> bool:
    """Whether this process has given up on the cache."""
    return _STATE["disabled"]


def njit(*args, cache: bool = False, **options):
    """``numba.njit``; with ``cache=True``, the cache of :mod:`this module <.numba_cache>`.

    Used as Numba's: ``@njit(cache=True, nogil=True)`` or ``njit(cache=True)(function)``.
    """
    if args:  # @njit without parentheses
        return njit(cache=cache, **options)(*args)

    def decorate(function):
        import numba

        dispatcher = numba.njit(**options)(function)
        if cache:
            dispatcher._cache = _cache_for(function)  # what Dispatcher.enable_caching sets
            if options.get("inline") != "always":  # inlined into callers, never cached alone
                _CACHED.append(dispatcher)
        return dispatcher

    return decorate


def cache_is_empty(module: str) -> bool:
    """Whether Numba's cache holds no machine code for any function of ``module`` (imported)
    that has one, so that the first calls will compile: after installing, or after the
    package changed. False when the cache is switched off (every run compiles, as its warning
    says) or cannot be read."""
    from numba.core.caching import NullCache

    caches = [d._cache for d in _CACHED if d.py_func.__module__ == module]
    if _STATE["disabled"] or not caches:
        return False
    for cache in caches:
        if isinstance(cache, NullCache):
            return False
        try:
            if cache._cache_file._load_index():  # Numba's index: empty when absent or stale
                return False
        except Exception:  # noqa: BLE001 - a damaged index: the cache's own warning says so
            return False
    return True


def _give_up(error: BaseException, where) -> None:
    """Switch the cache off for this process, with one warning."""
    if _STATE["disabled"]:
        return
    _STATE["disabled"] = True
    detail = " ".join(f"{type(error).__name__}: {error}".split())
    warnings.warn(f"Numba's cache{f' at {where}' if where else ''} cannot be used ({detail}); "
                  "compiling in memory, which takes a few seconds each run: set NUMBA_CACHE_DIR "
                  "to a folder you can write, or delete the damaged cache", NumbaCacheWarning,
                  stacklevel=3)


def _cache_for(function):
    """A cache for ``function`` that gives up instead of failing, or none at all."""
    from numba.core.caching import NullCache

    if _STATE["disabled"]:
        return NullCache()
    try:
        return _fallback_cache_class()(function)
    except Exception as exc:  # noqa: BLE001 - no folder to cache in (RuntimeError), or worse
        _give_up(exc, None)
        return NullCache()


@lru_cache(maxsize=1)
def _fallback_cache_class():
    from numba.core.caching import FunctionCache

    class FallbackCache(FunctionCache):
        """Numba's cache of one function, switched off at its first failure."""

        def load_overload(self, sig, target_context):
            if _STATE["disabled"]:
                return None
            try:
                return super().load_overload(sig, target_context)
            except Exception as exc:  # noqa: BLE001 - a damaged cache fails in any way
                _give_up(exc, self.cache_path)
                return None

        def save_overload(self, sig, data):
            if _STATE["disabled"]:
                return
            try:
                super().save_overload(sig, data)
            except Exception as exc:  # noqa: BLE001 - as above, while writing
                _give_up(exc, self.cache_path)

    return FallbackCache
