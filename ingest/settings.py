"""One typed settings object for the whole application.

Every tunable of note-rag lives here, read from (highest priority first): explicit keyword
arguments, ``NOTE_RAG_*`` environment variables, then an optional TOML file (``note-rag.toml``
at the project root, or the path in ``NOTE_RAG_CONFIG``). Code elsewhere receives a
``Settings`` instance instead of reading the environment itself, so a test or a caller can
build one with overrides and know exactly what the pipeline will do.

This module lives in ``ingest`` because ``ingest`` is the foundation package that every other
part (assistant, evals, UI) already depends on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _project_root() -> Path:
    """The repository root when installed in editable mode, else the working directory."""
    here = Path(__file__).resolve().parents[1]
    if (here / "corpus").is_dir():
        return here
    return Path.cwd()


PROJECT_ROOT = _project_root()

AnswerMode = Literal["extractive", "local", "openai", "ollama"]
ANSWER_MODES: tuple[str, ...] = ("extractive", "local", "openai", "ollama")


def offline_environment() -> None:
    """Make every library fail fast instead of reaching for the network.

    Called before importing Hugging Face, Chroma or Gradio code: the machine has no internet,
    and a library that tries to download a model must error at once, not hang.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # OpenMP threads (the e5 query encoder, llama.cpp) sleep rather than spin while they wait
    # for each other: on a machine whose other core is busy, spinning made one query embedding
    # take 0.3-2.6 s instead of 0.08 s (measured), and the first cited answer with it. Must be
    # set before the first OpenMP library loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class Settings(BaseSettings):
    """All configuration of note-rag (env prefix ``NOTE_RAG_``)."""

    model_config = SettingsConfigDict(
        env_prefix="NOTE_RAG_",
        extra="ignore",
        validate_default=True,
    )

    # --- corpus and ingestion -------------------------------------------------------------
    corpus_dir: Path = Field(default=PROJECT_ROOT / "corpus", description="Folder of corpus/sources.toml.")
    index_dir: Path = Field(default=PROJECT_ROOT / ".note-rag", description="Chroma index, fetched sources, uploads, feedback.")
    mirror: Path | None = Field(default=None, description="Local folder holding remote sources, matched by file name.")
    fetch_timeout: float = Field(default=20.0, description="Seconds before a remote download gives up.")
    max_file_mb: float = Field(default=50.0, description="Files larger than this are refused.")
    max_pages: int = Field(default=2000, ge=1, description="Documents with more pages are refused (a PDF bomb costs nothing).")
    parse_timeout: float = Field(
        default=300.0, gt=0, description="Seconds one document may take to parse (checked between pages); then it is refused."
    )
    chunk_size: int = Field(default=600, description="Target chunk length in characters.")
    chunk_overlap: int = Field(default=0, description="Overlap in characters (0: sentence-aligned chunks).")
    crash_test_pause: float | None = Field(default=None, description="Tests only: seconds to wait before switching generations.")

    # --- embeddings and store ---------------------------------------------------------------
    embeddings: str = Field(
        default="e5-small",
        description="e5-small | sentence-transformers:NAME_OR_PATH | use-multilingual (hashing:DIM: benchmark stand-in, no model)",
    )
    chroma_url: str | None = Field(default=None, description="http://host:port of a Chroma server; default: embedded.")
    collection: str = Field(default="note_rag")
    lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Chroma server: a writer whose lease is not renewed for this long is taken for dead.",
    )
    lease_wait: float = Field(default=1800.0, ge=0, description="Chroma server: seconds a writer waits for another one to finish.")

    # --- retrieval and answers --------------------------------------------------------------
    mode: AnswerMode = Field(default="extractive")
    retriever: Literal["hybrid", "dense", "bm25"] = "hybrid"
    top_k: int = Field(default=6, ge=1, le=30, description="Passages given to the answerer.")
    max_question_chars: int = Field(default=1000, description="Longer questions are truncated with a notice.")
    strict_figures: bool = Field(default=False, description="Drop answer sentences holding an unsupported figure.")
    abstain_threshold: float | None = Field(
        default=None, description="Override of the calibrated extractive abstention threshold."
    )

    # --- LLM backends -----------------------------------------------------------------------
    llm_timeout: float = Field(default=60.0, description="Seconds before an LLM call falls back to extractive.")
    llm_max_tokens: int = Field(default=200, description="Answers are one to three sentences.")
    llm_threads: int | None = Field(default=None, description="Threads of the local model (default: one per core, up to 8).")
    model_cache_dir: Path = Field(default=Path.home() / ".cache" / "note-rag", description="Assembled local GGUF.")
    llm_reading: Literal["auto", "passages", "selection"] = Field(
        default="auto",
        description=(
            "What an LLM reads: every unit of the retrieved passages, or the extractive selection and its neighbours. "
            "auto: passages for a served model (openai, ollama), the selection for the local model on CPU."
        ),
    )
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("openai_api_key", "NOTE_RAG_OPENAI_API_KEY", "OPENAI_API_KEY"),
        description="Key of the OpenAI-compatible endpoint (also read from OPENAI_API_KEY).",
    )
    openai_model: str = "gpt-4o-mini"
    openai_response_format: bool = Field(
        default=True,
        description="Send a JSON-schema response_format (constrained reply); false for a server that refuses it.",
    )
    ollama_model: str = "qwen2.5:1.5b"
    ollama_host: str = "http://127.0.0.1:11434"

    # --- UI ---------------------------------------------------------------------------------
    auth: str | None = Field(
        default=None,
        description="UI login: path of a users file (lines user:hash from `python -m assistant hash-password`), or user:password.",
    )
    feedback_path: Path | None = Field(default=None, description="JSONL of 👍/👎 votes; default index_dir/feedback.jsonl.")
    upload_max_mb: float = 20.0

    @field_validator("mirror", "chroma_url", "openai_base_url", "openai_api_key", "abstain_threshold", "auth", "feedback_path", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """An empty env var (``NOTE_RAG_MIRROR=``) means "not set"."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("embeddings")
    @classmethod
    def _known_embeddings(cls, value: str) -> str:
        if value in ("e5-small", "use-multilingual") or value.startswith("sentence-transformers:"):
            return value
        if value.startswith("hashing:") and value.split(":", 1)[1].isdigit():
            return value  # the benchmarks' stand-in (no model): see ingest.embeddings
        raise ValueError("backend d'embeddings inconnu : e5-small, use-multilingual ou sentence-transformers:NOM_OU_CHEMIN")

    @property
    def feedback_file(self) -> Path:
        return self.feedback_path or self.index_dir / "feedback.jsonl"

    @property
    def sources_file(self) -> Path:
        return self.corpus_dir / "sources.toml"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("NOTE_RAG_CONFIG", PROJECT_ROOT / "note-rag.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file))

    def reading_of(self, mode: str) -> str:
        """What an LLM of ``mode`` reads (``llm_reading``, with "auto" resolved): a served model
        reads the retrieved passages; the local model reads about 45 prompt tokens/s on two
        cores, so it reads the extractive selection and its neighbours (measured in
        evals/llm-modes.json)."""
        if self.llm_reading != "auto":
            return self.llm_reading
        return "selection" if mode == "local" else "passages"

    def with_overrides(self, **overrides: object) -> "Settings":
        """A copy with the given fields replaced (``None`` values are ignored)."""
        values = {k: v for k, v in overrides.items() if v is not None}
        if not values:
            return self
        # Only what was explicitly set travels: the copy still knows which fields the user chose
        # (the assistant uses the index's own embeddings unless one was asked for).
        explicit = {name: getattr(self, name) for name in self.model_fields_set}
        return _build(**{**explicit, **values})


def get_settings(**overrides: object) -> Settings:
    """Fresh settings from env + TOML, with overrides (``None`` means "keep the default").

    Not cached: reading a few env vars is cheap and a cache would hide changes made by tests
    or by a long-running UI process.
    """
    return _build(**{k: v for k, v in overrides.items() if v is not None})


def _build(**values: object) -> Settings:
    """Settings, or a one-line French ``ValueError`` naming the bad setting and its source."""
    try:
        return Settings(**values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])} = {e.get('input')!r} ({e['msg']})" for e in error.errors()
        )
        raise ValueError(f"réglage invalide (NOTE_RAG_*, note-rag.toml ou option) : {problems}") from None
