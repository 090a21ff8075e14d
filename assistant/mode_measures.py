"""Whether an LLM mode earned its place as the default answer mode: read from measurements.

The evals measure each LLM mode against extractive on every question split and write the figures
to ``evals/llm-modes.json`` (``python -m evals --split NAME --modes extractive,local``; see
``evals.modes.record``). The product only reads that data file, here: ``ui.py --auto-mode``
must not import the eval package to choose its mode, so the reader and the rule live in
``assistant`` and the evals import them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The data file the evals write (committed with the code it measured).
MEASURES = Path(__file__).resolve().parents[1] / "evals" / "llm-modes.json"
#: The splits an LLM mode must be measured on before it may be the default.
SPLIT_NAMES = ("train", "dev")


def load(path: Path = MEASURES) -> dict[str, Any]:
    """The measurements, or nothing when the file is missing or unreadable (then no mode earned)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


@dataclass
class Verdict:
    earned: bool  # the mode is at least as accurate as extractive on every split
    why: str  # one French line for the startup message


def verdict(mode: str, path: Path = MEASURES) -> Verdict:
    """Whether ``mode`` earned its place as the default, and the figures that say so."""
    measured = load(path).get(mode, {})
    missing = [s for s in SPLIT_NAMES if s not in measured]
    if missing:
        return Verdict(False, f"mode {mode} pas encore mesuré sur {', '.join(missing)} ({path.name})")
    parts, earned = [], True
    for split in SPLIT_NAMES:
        row = measured[split]
        earned = earned and row["accuracy"] >= row["extractive_accuracy"]
        parts.append(f"{split} {100 * row['accuracy']:.0f} % contre {100 * row['extractive_accuracy']:.0f} %")
    verb = "au moins aussi juste que l'extractif" if earned else "moins juste que l'extractif sur une partie des questions"
    return Verdict(earned, f"mode {mode} {verb} : {'; '.join(parts)}, mesuré dans {path.name}")
