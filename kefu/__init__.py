"""Kefu: a grounded knowledge assistant for e-commerce customer service. `from kefu import Kefu`."""

from core.settings import VERSION as __version__

__all__ = ["Kefu", "__version__"]


def __getattr__(name: str):
    # Lazy: `kefu --help` should not wait for FAISS and torch to import.
    if name == "Kefu":
        from kefu.facade import Kefu

        return Kefu
    raise AttributeError(f"module 'kefu' has no attribute {name!r}")
