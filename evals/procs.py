"""Processes the benchmarks and tests start: a Chroma server, measured subprocesses, ports.

One place for them, so the tests' Chroma server and the benchmark's are the same thing, and
every process is stopped by its PID (never by name: other work runs on the same machine).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chroma_executable() -> str | None:
    """The ``chroma`` CLI of this interpreter's environment (it ships with chromadb)."""
    return shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")


@dataclass
class ChromaServer:
    process: subprocess.Popen
    url: str
    path: Path

    def peak_rss_mb(self) -> float | None:
        return peak_rss_mb(self.process.pid)

    def stop(self) -> None:
        stop(self.process)


def start_chroma(path: Path, env: dict[str, str] | None = None, timeout: float = 60.0) -> ChromaServer:
    """``chroma run`` on a free loopback port, once it answers its heartbeat."""
    chroma = chroma_executable()
    if chroma is None:
        raise RuntimeError("la commande chroma est introuvable (elle est installée avec chromadb)")
    port = free_port()
    process = subprocess.Popen(
        [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/api/v2/heartbeat", timeout, process)
    except Exception:
        stop(process)
        raise
    return ChromaServer(process, url, Path(path))


def wait_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> float:
    """Seconds until ``url`` answers (any HTTP status); raises if the process dies or time runs out."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url} : le processus s'est arrêté (code {process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                response.read(1)
            return time.perf_counter() - started
        except urllib.error.HTTPError:
            return time.perf_counter() - started  # it answered, with an error status
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} n'a pas répondu en {timeout:g} s")


def stop(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds (by PID)."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident memory of a running process so far (VmHWM), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class Measured:
    """A finished subprocess: exit code, output, wall time and peak resident memory."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float


def run_measured(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 3600.0) -> Measured:
    """Run ``command`` to completion; its peak RSS comes from the kernel (``wait4``)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err)
        status, usage = 0, None
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - started > timeout:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: tell Popen
        out.seek(0)
        err.seek(0)
        return Measured(
            process.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            seconds,
            usage.ru_maxrss / 1024 if usage is not None else 0.0,
        )
