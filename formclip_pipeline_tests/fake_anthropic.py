"""A local HTTP server that speaks enough of Anthropic's Messages API for the SDK to talk to it.

Tests script its replies (text, rate limits, server errors, malformed bodies) and read back what
the SDK sent, including headers, so we can check retries and that the key goes nowhere else.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeAnthropic:
    def __init__(self):
        self.script: list[tuple] = []  # consumed one per request; empty means ("ok",)
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with fake.lock:
                    fake.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                          "body": json.loads(body)})
                    step = fake.script.pop(0) if fake.script else ("ok",)
                if self.path != "/v1/messages":
                    return self._send(404, {"type": "error", "error": {"type": "not_found_error", "message": "no"}})
                kind = step[0]
                if kind == "ok":
                    req = json.loads(body)
                    text = step[1] if len(step) > 1 else f"lifter seen by {req['model']}, knees over toes"
                    return self._send(200, {
                        "id": f"msg_{len(fake.requests)}", "type": "message", "role": "assistant", "model": req["model"],
                        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
                        "usage": {"input_tokens": 100, "output_tokens": 20}})
                if kind == "status":
                    code = step[1]
                    etype = {429: "rate_limit_error", 401: "authentication_error", 529: "overloaded_error"}.get(code, "api_error")
                    return self._send(code, {"type": "error", "error": {"type": etype, "message": "scripted"}},
                                      {"retry-after": "0", **(step[2] if len(step) > 2 else {})})
                if kind == "malformed":
                    raw = b'{"id": "msg", "content": [ this is not json'
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                    return None
                if kind == "empty":
                    return self._send(200, {"id": "msg", "type": "message", "role": "assistant", "model": "m",
                                            "content": [], "stop_reason": "end_turn", "stop_sequence": None,
                                            "usage": {"input_tokens": 1, "output_tokens": 0}})
                raise AssertionError(f"unknown scripted step {step}")

            def _send(self, code, payload, headers=None):
                raw = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
