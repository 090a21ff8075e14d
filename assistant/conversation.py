"""The earlier turns of a conversation, as callers give them: checked, or refused in French.

``Assistant.ask(history=...)`` reads a follow-up (« Et les métropoles ? ») with the turns before
it. The CLI reads them from a file (``read_conversation``), the UI's ``/ask`` API from its
caller (``checked_history``): both refuse a malformed conversation with a French sentence that
says what is wrong and where, rather than answering as if there were none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROLES = ("user", "assistant")
FORMAT = 'une liste de tours {"role": "user" ou "assistant", "content": "…"}'


def checked_history(history: Any, where: str = "historique") -> list[dict[str, str]]:
    """``history`` as a list of {role, content} turns, or ``ValueError`` (French) naming the
    faulty turn. A plain string is an earlier user question; ``None`` is no history."""
    if history is None:
        return []
    if not isinstance(history, list):
        raise ValueError(f"{where} : {FORMAT} est attendue, pas {_kind(history)}")
    turns: list[dict[str, str]] = []
    for number, item in enumerate(history, start=1):
        if isinstance(item, str):
            item = {"role": "user", "content": item}
        if not isinstance(item, dict):
            raise ValueError(f"{where}, tour {number} : {_kind(item)} au lieu d'un tour {{role, content}}")
        role, content = item.get("role"), item.get("content")
        if role not in ROLES:
            raise ValueError(f"{where}, tour {number} : rôle « {role} » inconnu (user ou assistant)")
        if not isinstance(content, str) or not content.strip():
            raise ValueError(f"{where}, tour {number} : le texte du tour (content) manque ou est vide")
        turns.append({"role": role, "content": content.strip()})
    return turns


def read_conversation(path: str | Path) -> list[dict[str, str]]:
    """The turns of a conversation file: a JSON (``.json``, or any file opening with « [ ») or
    YAML (``.yaml``, ``.yml``) list of {role, content}, or plain text, one earlier user question
    a line. ``ValueError`` (French) for a missing, unreadable or malformed file."""
    path = Path(path)
    where = f"conversation « {path} »"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{where} : fichier introuvable") from None
    except UnicodeDecodeError:
        raise ValueError(f"{where} : le fichier n'est pas du texte en UTF-8") from None
    except OSError as error:
        raise ValueError(f"{where} : fichier illisible ({error.strerror or error})") from None
    if not text.strip():
        return []  # a conversation not started yet
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = f" (ligne {mark.line + 1})" if mark is not None else ""
            raise ValueError(f"{where} : YAML illisible{line}") from None
    elif suffix == ".json" or text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where} : JSON illisible (ligne {error.lineno}, colonne {error.colno})") from None
    else:
        data = [line.strip() for line in text.splitlines() if line.strip()]
    return checked_history(data if data is not None else [], where)


def _kind(value: Any) -> str:
    names = {dict: "un objet", list: "une liste", str: "un texte", int: "un nombre", float: "un nombre", bool: "un booléen", type(None): "une valeur vide"}
    return names.get(type(value), f"un {type(value).__name__}")
