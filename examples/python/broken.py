"""A deliberately broken `faultline-http/1` service, for testing `faultline conform`.

It needs no store and no dependency beyond the standard library. Health is fine, so
faultline gets far enough to exercise everything else; each other endpoint breaks the
protocol (docs/protocol.md) in exactly one way, which `faultline conform` must report:

| request              | what it does                                        | the rule it breaks (protocol section)                          |
|----------------------|-----------------------------------------------------|----------------------------------------------------------------|
| `GET /v1/health`     | `200 {"ok": true}`                                  | none: it is healthy                                            |
| `GET /v1/layout`     | `200` with a truncated, malformed JSON body         | a layout is a JSON object with the section 6 queries          |
| `POST /v1/setup`     | `503 {"error": {"code": "not-ready", "text": …}}`   | an error body must say `definite` (section 3)                  |
| `POST /v1/debit`     | `200` with the text body `OK, debited`              | a `2xx` answer is a JSON body (section 2)                      |
| `POST /v1/payment`   | answers only after the request's deadline, + 1 s    | an answer must come within `deadline_ms` (section 2)           |
| `POST /v1/balance`   | `200 {"bal": 5000}`: no `balance` field             | a read answers `balance` (section 2)                           |
| `POST /v1/settle`    | a bare `500` with an empty body                     | settle must finish (an error needs a body saying why)          |

(A debit or payment answering `200` with no `balance` at all would be allowed: they
may omit it. A read may not.)

    FAULTLINE_LISTEN=127.0.0.1:8080 python3 examples/python/broken.py
    faultline conform --service "python3 examples/python/broken.py"
"""

from __future__ import annotations

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Broken(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        if self.path == "/v1/health":
            self.reply(200, b'{"ok": true}')
        elif self.path == "/v1/layout":
            self.reply(200, b'{"balance_key": "balance:{account}", "ledger_balance": ')
        else:
            self.reply(404, b'{"error": {"code": "not-found", "definite": true}}')

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path == "/v1/setup":
            self.reply(503, b'{"error": {"code": "not-ready", "text": "warming up"}}')
        elif self.path == "/v1/debit":
            self.reply(200, b"OK, debited", "text/plain")
        elif self.path == "/v1/payment":
            time.sleep(deadline_of(raw, self.headers) + 1)
            self.reply(200, b'{"balance": 0}')
        elif self.path == "/v1/balance":
            self.reply(200, b'{"bal": 5000}')
        elif self.path == "/v1/settle":
            self.reply(500, b"")
        else:
            self.reply(404, b'{"error": {"code": "not-found", "definite": true}}')

    def reply(self, status: int, body: bytes, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        sys.stderr.write("broken: " + (format % args) + "\n")


def deadline_of(raw: bytes, headers) -> float:
    """The request's deadline in seconds (body, header, or the run's default); at most
    a minute, so a test never waits long."""
    try:
        ms = json.loads(raw).get("deadline_ms")
    except (ValueError, AttributeError):
        ms = None
    ms = ms or headers.get("Faultline-Deadline-Ms") or os.environ.get("FAULTLINE_OP_TIMEOUT_MS")
    return min(60.0, int(ms or 2000) / 1000)


def main() -> None:
    listen = os.environ.get("FAULTLINE_LISTEN")
    if not listen or ":" not in listen:
        raise SystemExit("FAULTLINE_LISTEN is not set (host:port)")
    host, _, port = listen.rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), Broken)
    server.daemon_threads = True
    print(f"broken service listening on {listen}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
