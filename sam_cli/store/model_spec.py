"""How a Hub model is named: ``owner/name[@revision]``, and which specs are meant as folders instead."""

from __future__ import annotations

import os

from sam_cli.errors import UsageError

DEFAULT_REVISION = "main"


def parse_model_spec(spec: str) -> tuple[str, str | None]:
    """Split ``owner/name[@revision]`` into ``(repo_id, revision or None)``; UsageError if malformed."""
    repo_id, sep, revision = spec.strip().partition("@")
    if sep and not revision:
        raise UsageError(f"invalid model id {spec!r}: nothing after '@' (expected owner/name@revision)")
    _check_repo_id(repo_id, spec)
    return repo_id, (revision or None)


def _check_repo_id(repo_id: str, spec: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    problem = None
    if repo_id.count("/") != 1:
        problem = "expected owner/name or owner/name@revision"
    else:
        try:
            validate_repo_id(repo_id)
        except HFValidationError as e:
            problem = str(e).split("\n")[0].rstrip(".")
    if problem:
        raise UsageError(f"invalid model id {spec!r}: {problem}")


def looks_like_path(spec: str) -> bool:
    # Hub ids have exactly one '/' before any '@'; anything else with a separator is meant as a folder.
    head = spec.partition("@")[0]
    return (
        spec.startswith((".", "/", "~"))
        or (os.sep != "/" and os.sep in spec)
        or head.count("/") > 1
        or (len(spec) > 1 and spec[1] == ":")  # Windows drive letter
    )
