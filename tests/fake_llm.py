"""A small local HTTP server that speaks the OpenAI and Ollama chat APIs.

Tests talk to it with the real client libraries (langchain-openai, langchain-ollama) over real
HTTP; only the model behind the API is fake. Its default behaviour reads the numbered extracts
of the prompt like a naive LLM would: it answers with the extract that shares most words with
the question and cites it, and it obeys instructions found in extracts (so that a test can show
the assistant does not let those reach it). Asked for a JSON reply (OpenAI ``response_format``,
Ollama ``format``) it wraps its answer as the schema says.

Fault injection, for what a real server does only by accident: ``status=500`` answers every
chat request with that error; ``drop_after=N`` sends N deltas of a streamed reply, then drops
the connection without ending the stream.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

Responder = Callable[[list[dict]], str]


def _user_text(messages: list[dict]) -> str:
    return next((str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), "")


def naive_reader(messages: list[dict]) -> str:
    """Quote the best-matching passage sentence with its [n]; obey injected instructions."""
    text = _user_text(messages)
    if "Question autonome" in text:  # the condensation request of a follow-up
        previous = re.findall(r"Utilisateur : (.+)", text)
        question = re.search(r"Nouvelle question : (.+)", text)
        return f"{previous[-1] if previous else ''} {question.group(1) if question else ''}".strip()
    injected = re.search(r"(?:réponds|answer)\s+(?:que|that)\s+([^.]+)", text, re.IGNORECASE)
    if injected:
        return injected.group(1).strip() + "."
    question = re.search(r"Question : (.+)", text)
    question_words = set(re.findall(r"\w{4,}", (question.group(1) if question else "").lower()))
    best, best_score = None, -1
    for number, sentence in re.findall(r"^\[(\d+)\] (.+)$", text.split("Question :")[0], re.MULTILINE):
        score = len(question_words & set(re.findall(r"\w{4,}", sentence.lower())))
        if score > best_score:
            best, best_score = (number, sentence.strip()), score
    if best is None:
        return "Les documents indexés ne permettent pas de répondre à cette question."
    return f"{best[1].rstrip('.')} [{best[0]}]."


def figures_reader(messages: list[dict]) -> str:
    """Restate every extract that holds a figure, each with its [n]: a model that keeps all the
    figures of the quote it replaces, however many units the quote has."""
    text = _user_text(messages).split("Question :")[0]
    kept = [f"{sentence.strip().rstrip('.')} [{number}]." for number, sentence in re.findall(r"^\[(\d+)\] (.+)$", text, re.MULTILINE) if re.search(r"\d", sentence)]
    return " ".join(kept) or naive_reader(messages)


class FakeLLMServer:
    """``with FakeLLMServer() as server: server.url`` — OpenAI at /v1, Ollama at /api."""

    def __init__(
        self,
        responder: Responder = naive_reader,
        delay: float = 0.0,
        model: str = "fake-model",
        status: int = 200,
        drop_after: int | None = None,
    ):
        self.responder = responder
        self.delay = delay
        self.status = status
        self.drop_after = drop_after
        self.model = model
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _json(self, payload: dict, status: int = 200) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                if self.path.startswith("/api/tags"):
                    self._json({"models": [{"name": server.model, "model": server.model}]})
                elif self.path.startswith("/api/version"):
                    self._json({"version": "0.0.0-fake"})
                else:
                    self._json({"error": "not found"}, 404)

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append({"path": self.path, "body": body})
                if server.delay:
                    time.sleep(server.delay)
                if server.status != 200:
                    self._json({"error": {"message": "panne simulée", "type": "server_error"}}, server.status)
                    return
                reply = server.responder(body.get("messages", []))
                if (body.get("response_format") or body.get("format")) and not reply.lstrip().startswith("{"):
                    cited = [int(n) for n in re.findall(r"\[(\d+)\]", reply)]
                    reply = json.dumps({"reponse": reply, "extraits": cited}, ensure_ascii=False)
                try:
                    if self.path.startswith("/v1/chat/completions"):
                        self._openai(body, reply)
                    elif self.path.startswith("/api/chat"):
                        self._ollama(body, reply)
                    else:
                        self._json({"error": "not found"}, 404)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout): expected
                    self.close_connection = True

            def _openai(self, body: dict, reply: str) -> None:
                if not body.get("stream"):
                    self._json(
                        {
                            "id": "chatcmpl-fake",
                            "object": "chat.completion",
                            "created": int(time.time()),
                            "model": server.model,
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                        }
                    )
                    return
                # chunked, as real servers stream: a connection dropped before the last chunk is an
                # error the client notices (an unframed body would just end)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()

                def send(data: str) -> None:
                    raw = data.encode()
                    self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
                    self.wfile.flush()

                for position, piece in enumerate(re.findall(r"\S+\s*", reply)):
                    if server.drop_after is not None and position >= server.drop_after:
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)  # mid-stream, no terminating chunk
                        return
                    chunk = {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion.chunk",
                        "created": int(time.time()),
                        "model": server.model,
                        "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                    }
                    send(f"data: {json.dumps(chunk)}\n\n")
                end = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": server.model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                send(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                self.close_connection = True

            def _ollama(self, body: dict, reply: str) -> None:
                base = {"model": server.model, "created_at": "2026-01-01T00:00:00Z"}
                if body.get("stream") is False:
                    self._json({**base, "message": {"role": "assistant", "content": reply}, "done": True, "done_reason": "stop"})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Connection", "close")
                self.end_headers()
                for piece in re.findall(r"\S+\s*", reply):
                    self.wfile.write((json.dumps({**base, "message": {"role": "assistant", "content": piece}, "done": False}) + "\n").encode())
                    self.wfile.flush()
                final = {**base, "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop", "eval_count": 1, "prompt_eval_count": 1}
                self.wfile.write((json.dumps(final) + "\n").encode())
                self.wfile.flush()
                self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "FakeLLMServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
