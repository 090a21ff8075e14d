"""Ingestion: the corpus (note, testimonies, remote sources) into a Chroma index.

    >>> from ingest import build_index
    >>> report = build_index()                 # every source of corpus/sources.toml
    >>> report.chunks_total, report.ok

Also home of the shared settings (``ingest.settings``), the embedding backends and the Chroma
store, which the assistant reuses to read the same index.
"""

from .models import Chunk, DocumentInfo, DocumentResult, IngestReport
from .pipeline import add_upload, build_index
from .settings import Settings, get_settings

__all__ = ["build_index", "add_upload", "IngestReport", "DocumentResult", "Chunk", "DocumentInfo", "Settings", "get_settings"]
