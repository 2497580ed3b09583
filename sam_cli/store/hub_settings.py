"""Where the Hugging Face cache and Hub are, and whether we may go online.

Settings are read when a function is called, not at import: the environment variables ``HF_ENDPOINT``,
``HF_HUB_CACHE`` / ``HF_HOME`` and ``HF_HUB_OFFLINE`` win when set, else ``huggingface_hub.constants``.
The cache folder and the endpoint are passed explicitly to the library, so what we look up and what it
writes always agree.
"""

from __future__ import annotations

import os
from pathlib import Path

_TRUE = {"1", "on", "yes", "true"}


def cache_dir() -> Path:
    """The Hub cache folder (``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else the library's default)."""
    env = os.environ
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(name):
            return _expand(env[name])
    if env.get("HF_HOME"):
        return _expand(env["HF_HOME"]) / "hub"
    from huggingface_hub import constants

    return _expand(constants.HF_HUB_CACHE)


def hub_endpoint() -> str:
    """The Hub's base URL (``HF_ENDPOINT``, else the library's default)."""
    if os.environ.get("HF_ENDPOINT"):
        return os.environ["HF_ENDPOINT"].rstrip("/")
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def offline_mode() -> bool:
    """Whether ``HF_HUB_OFFLINE`` is on (read now, so setting it after import counts)."""
    if "HF_HUB_OFFLINE" in os.environ:
        return os.environ["HF_HUB_OFFLINE"].strip().lower() in _TRUE
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _expand(path: str) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(path)))
