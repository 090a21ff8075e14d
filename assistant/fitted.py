"""Where the constants fitted by ``python -m evals calibrate`` live: one data file per stage and
embedding backend in ``assistant/weights/`` (``<backend>.json`` for evidence selection,
``<backend>.retrieval.json`` for the fusion of the rankings). A backend with no file of its own
reads the default backend's, with a warning: changing the embedding model means running the
script, not editing constants."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_BACKEND = "e5-small"


def fitted_file(backend: str, stage: str = "") -> Path:
    """The file of ``backend``'s constants for ``stage`` ("" : evidence selection)."""
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in backend)
    return WEIGHTS_DIR / f"{name}{'.' + stage if stage else ''}.json"


def load_fitted(backend: str, stage: str = "", what: str = "poids") -> dict[str, Any]:
    """The fitted constants of ``backend`` for ``stage`` (the default backend's when it has none)."""
    path = fitted_file(backend, stage)
    if not path.exists():
        fallback = fitted_file(DEFAULT_BACKEND, stage)
        if not fallback.exists():
            raise FileNotFoundError(f"aucun fichier de {what} ({path}) : lancez « python -m evals calibrate »")
        log.warning("pas de %s pour %s : ceux de %s servent (python -m evals calibrate --embeddings %s)", what, backend, DEFAULT_BACKEND, backend)
        path = fallback
    return json.loads(path.read_text(encoding="utf-8"))
