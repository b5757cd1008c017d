"""ntfy's publishing rules the simulator checks: priorities and action buttons.

Actions come as JSON (a list of objects) or in ntfy's "simple" format, the
one apprise forwards from its `actions` URL argument as the X-Actions header:

    http, Acknowledge, https://hub/ack?n=5, method=POST, clear=true; view, Map, https://hub/m

Sections are separated by ",", actions by ";". Unnamed sections are action,
label and (for view and http) url; values may be quoted to hold "," or ";".
"""

from __future__ import annotations

import json
import re
from typing import Any

PRIORITIES = {"min": 1, "low": 2, "default": 3, "high": 4, "max": 5, "urgent": 5}
KINDS = ("view", "broadcast", "http")
WITH_URL = ("view", "http")
MAX_ACTIONS = 3
FIELDS = ("action", "label", "url", "method", "body", "intent")
KEY = re.compile(r"([-.\w]+)\s*=\s*")
PLAIN_VALUE = re.compile(r"[^,;]*")


class ActionsError(ValueError):
    pass


def priority(value: Any) -> int:
    """ntfy's 1 (min) to 5 (max) from a number or a name; 3 when absent or unknown."""
    text = str(value if value is not None else "").strip().lower()
    if text.isdigit() and 1 <= int(text) <= 5:
        return int(text)
    return PRIORITIES.get(text, 3)


def parse_actions(value: Any) -> list[dict[str, Any]]:
    """The action buttons of a message, checked the way an ntfy server checks them."""
    if isinstance(value, list):
        actions = value
    elif not str(value or "").strip():
        return []
    elif str(value).strip().startswith("["):
        try:
            actions = json.loads(value)
        except ValueError as exc:
            raise ActionsError(f"actions are not valid JSON: {exc}") from None
    else:
        actions = _parse_simple(str(value).strip())
    if len(actions) > MAX_ACTIONS:
        raise ActionsError(f"only {MAX_ACTIONS} actions allowed")
    return [_checked(action) for action in actions]


def _checked(action: Any) -> dict[str, Any]:
    if not isinstance(action, dict):
        raise ActionsError("each action must be an object")
    kind = str(action.get("action", "")).lower()
    if kind not in KINDS:
        raise ActionsError(f"action '{kind}' unknown")
    if not action.get("label"):
        raise ActionsError("parameter 'label' is required")
    if kind in WITH_URL and not action.get("url"):
        raise ActionsError(f"parameter 'url' is required for action '{kind}'")
    checked = {**action, "action": kind, "clear": bool(action.get("clear", False))}
    if kind == "http":
        checked["method"] = str(action.get("method") or "POST").upper()
    return {key: item for key, item in checked.items() if item != {}}


def _parse_simple(text: str) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = []
    action: dict[str, Any] = {"headers": {}, "extras": {}}
    section, pos = 0, 0
    while pos < len(text):
        key_match = KEY.match(text, pos)
        key = key_match.group(1) if key_match else ""
        pos = key_match.end() if key_match else pos
        value, pos = _value(text, pos)
        _populate(action, section, key, value)
        section += 1
        if pos >= len(text) or text[pos] == ";":
            actions.append(action)
            action, section = {"headers": {}, "extras": {}}, 0
        pos = _skip_spaces(text, pos + 1)
    return actions


def _value(text: str, pos: int) -> tuple[str, int]:
    """The value at `pos` and the position of the "," or ";" (or end) after it."""
    quote = text[pos] if pos < len(text) else ""
    if quote not in ("'", '"'):
        match = PLAIN_VALUE.match(text, pos)
        assert match is not None  # the pattern matches the empty string
        return match.group(0).strip(), match.end()
    end = pos + 1
    while True:
        end = text.find(quote, end)
        if end == -1:
            raise ActionsError(f"unexpected end of input, quote started at position {pos}")
        if text[end - 1] != "\\":
            break
        end += 1
    after = _skip_spaces(text, end + 1)
    if after < len(text) and text[after] not in ",;":
        raise ActionsError(f"unexpected character '{text[after]}' at position {after}")
    return text[pos + 1 : end], after


def _populate(action: dict[str, Any], section: int, key: str, value: str) -> None:
    if not key:
        unnamed = ["action", "label"] + (["url"] if action.get("action") in WITH_URL else [])
        key = unnamed[section] if section < len(unnamed) else ""
    if not key:
        raise ActionsError(f"term '{value}' unknown")
    group, _, name = key.partition(".")
    if group in ("headers", "extras") and name:
        action[group][name] = value
    elif key.lower() == "clear":
        action["clear"] = value.lower() in ("true", "yes", "1")
    elif key.lower() in FIELDS:
        action[key.lower()] = value.lower() if key.lower() == "action" else value
    else:
        raise ActionsError(f"key '{key}' unknown")


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos
