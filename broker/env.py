"""Typed configuration helpers: every setting comes from the environment.

A secret may come from a file instead (NAME_FILE=/run/secrets/x), so that it
never has to sit in a process listing or a unit file.
"""

from __future__ import annotations

import os


class ConfigError(ValueError):
    """A setting that is present but unusable; the message names the variable."""


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def env_float(name: str, default: float) -> float:
    raw = env_str(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name).lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def env_secret(name: str, default: str = "") -> str:
    """NAME, or the content of the file NAME_FILE points at (not both)."""
    path = env_str(f"{name}_FILE")
    value = env_str(name)
    if path and value:
        raise ConfigError(f"set {name} or {name}_FILE, not both")
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
    return value or default
