"""The `faultline-http/1` plumbing shared by the reference services (docs/protocol.md).

- `Config.from_env()`: the environment faultline starts a service with (section 1).
- `Topology`: where the stores are now; `Topology.follow()` long-polls the control URL
  so a failover or a restart on another port moves the clients (section 5).
- `Deadline`: how long the client waits for this answer; every store and gateway call
  takes its timeout from it.
- `OpError` (`Refused`, `Indeterminate`): an operation's error, answered as the
  protocol's error body with `definite` set (section 3).
- `BillingService` and `serve()`: a standard-library `ThreadingHTTPServer` that routes
  the protocol's requests to a service's methods and turns their results and errors
  into answers.

A service subclasses `BillingService`, implements `debit`, `payment`, `balance` (and
`settle`, `setup`, `layout` if it needs them) and calls `serve(service, config)`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROTOCOL = "faultline-http/1"

log = logging.getLogger("faultline_service")


# --- Configuration ------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """The environment of section 1; `FAULTLINE_LISTEN` etc. See docs/protocol.md."""

    listen: tuple[str, int]
    redis_master: str
    redis_replicas: tuple[str, ...]
    postgres_url: str
    gateway_url: str
    control_url: str | None
    op_timeout: float  # seconds
    run_id: str
    seed: int | None

    @staticmethod
    def from_env(env=os.environ) -> Config:
        def required(name):
            value = env.get(name, "").strip()
            if not value:
                raise SystemExit(
                    f"{name} is not set: this service is started by faultline "
                    f"(`faultline run --service ...`), or by hand with the variables of "
                    f"docs/protocol.md section 1"
                )
            return value

        protocol = env.get("FAULTLINE_PROTOCOL", PROTOCOL)
        if protocol != PROTOCOL:
            raise SystemExit(f"FAULTLINE_PROTOCOL is {protocol!r}; this service speaks {PROTOCOL}")
        host, _, port = required("FAULTLINE_LISTEN").rpartition(":")
        if not host or not port.isdigit():
            raise SystemExit("FAULTLINE_LISTEN must be host:port, e.g. 127.0.0.1:8080")
        replicas = env.get("FAULTLINE_REDIS_REPLICAS", "")
        seed = env.get("FAULTLINE_SEED", "")
        return Config(
            listen=(host, int(port)),
            redis_master=required("FAULTLINE_REDIS_MASTER"),
            redis_replicas=tuple(r for r in replicas.split(",") if r),
            postgres_url=required("FAULTLINE_POSTGRES_URL"),
            gateway_url=required("FAULTLINE_GATEWAY_URL").rstrip("/"),
            control_url=(env.get("FAULTLINE_CONTROL_URL") or "").rstrip("/") or None,
            op_timeout=int(env.get("FAULTLINE_OP_TIMEOUT_MS", "2000")) / 1000,
            run_id=env.get("FAULTLINE_RUN_ID", "by-hand"),
            seed=int(seed) if seed.isdigit() else None,
        )


# --- The live topology --------------------------------------------------------------


@dataclass(frozen=True)
class Stores:
    """Where the stores are, at one version of the topology."""

    version: int
    redis_master: str
    postgres_url: str


class Topology:
    """The stores' current addresses; clients read `current()` before each request
    and rebuild their connections when it changed."""

    def __init__(self, config: Config):
        self._lock = threading.Lock()
        self._current = Stores(-1, config.redis_master, config.postgres_url)
        self._control_url = config.control_url

    def current(self) -> Stores:
        with self._lock:
            return self._current

    def follow(self) -> None:
        """Starts a daemon thread that long-polls `{control}/v1/topology?after=N`
        (section 5). Without a control URL (a service run by hand) nothing moves."""
        if self._control_url:
            threading.Thread(target=self._poll, name="topology", daemon=True).start()

    def _poll(self) -> None:
        # No proxy: the control URL is on loopback or the run's own network.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while True:
            version = self.current().version
            query = "" if version < 0 else f"?after={version}"
            try:
                with opener.open(f"{self._control_url}/v1/topology{query}", timeout=40) as answer:
                    self._update(json.load(answer))
            except Exception as e:  # the harness restarting, a partition: try again soon
                log.warning("topology: %s; retrying in 1 s", e)
                time.sleep(1)

    def _update(self, topology: dict) -> None:
        new = Stores(int(topology["version"]), topology["redis_master"], topology["postgres_url"])
        with self._lock:
            old, self._current = self._current, new
        if (old.redis_master, old.postgres_url) != (new.redis_master, new.postgres_url):
            log.info("topology %d: redis master %s, postgres %s", new.version,
                     new.redis_master, new.postgres_url)


# --- Deadlines and errors -----------------------------------------------------------


class Deadline:
    """The moment the client stops waiting. A small margin is kept back so that an
    answer sent just in time still arrives before the client gives up."""

    MARGIN = 0.05

    def __init__(self, seconds: float):
        self._at = time.monotonic() + max(0.0, seconds - self.MARGIN)

    def remaining(self) -> float:
        return max(0.0, self._at - time.monotonic())

    def timeout(self, cap: float | None = None, share: float = 1.0) -> float:
        """A timeout for one call: `share` of what is left, at most `cap`, and never
        zero (a zero socket timeout means non-blocking)."""
        left = self.remaining() * share
        return max(0.001, min(left, cap) if cap is not None else left)

    def check(self, doing: str) -> None:
        """Gives up, indeterminately, once the client stopped waiting: an operation
        that goes on after its deadline acts for a caller who recorded `info`."""
        if self.remaining() <= 0:
            raise Indeterminate("deadline", f"deadline passed before {doing}")


class OpError(Exception):
    """An operation's error, answered as `{"error": {"code", "definite", "text"}}`."""

    definite: bool
    status: int

    def __init__(self, code: str, text: str):
        super().__init__(text)
        self.code = code
        self.text = text

    def body(self) -> dict:
        return {"error": {"code": self.code, "definite": self.definite, "text": self.text}}


class Refused(OpError):
    """The operation certainly did not take effect (recorded `fail`)."""

    definite = True
    status = 409


class Indeterminate(OpError):
    """The operation may have taken effect, now or later (recorded `info`)."""

    definite = False
    status = 503


class BadRequest(Refused):
    """The request is not what the protocol says: nothing was done."""

    status = 400


class NotFound(Refused):
    """An endpoint this service does not offer (for `/v1/layout` and `/v1/setup`,
    a 404 means "the standard layout": faultline reads and sets it up itself)."""

    status = 404


# --- Requests and the server --------------------------------------------------------


class Request:
    """One operation request: its id, its deadline and its JSON body."""

    def __init__(self, body: dict, op: int | None, deadline: Deadline):
        self.body = body
        self.op = op
        self.deadline = deadline

    def integer(self, name: str) -> int:
        value = self.body.get(name)
        if type(value) is not int:
            raise BadRequest("bad-request", f"`{name}` must be an integer, got {value!r}")
        return value

    @property
    def account(self) -> int:
        return self.integer("account")

    @property
    def amount(self) -> int:
        return self.integer("amount")


class BillingService:
    """A billing service's operations; each returns the answer's JSON body or raises
    an `OpError`. A `StoreError`-like exception with a `definite` attribute (see
    stores.py) is answered like an `OpError` of its kind."""

    def debit(self, req: Request) -> dict:
        raise NotImplementedError

    def payment(self, req: Request) -> dict:
        raise NotImplementedError

    def balance(self, req: Request) -> dict:
        raise NotImplementedError

    def settle(self, req: Request) -> dict:
        return {}

    def setup(self, req: Request) -> dict:
        raise NotFound("standard-layout", "faultline sets up the standard layout itself")

    def layout(self) -> dict:
        raise NotFound("standard-layout", "balances live in the standard layout")


ROUTES = {
    ("POST", "/v1/debit"): "debit",
    ("POST", "/v1/payment"): "payment",
    ("POST", "/v1/balance"): "balance",
    ("POST", "/v1/settle"): "settle",
    ("POST", "/v1/setup"): "setup",
}


def answer_error(e: Exception) -> tuple[int, dict]:
    """The status and body answering exception `e`."""
    if isinstance(e, OpError):
        return e.status, e.body()
    definite = getattr(e, "definite", None)
    if definite is not None:  # a store error (stores.StoreError)
        code = getattr(e, "code", "store-error")
        return (409 if definite else 503), {
            "error": {"code": code, "definite": definite, "text": str(e)}
        }
    # A bug in the service: it may have done anything, so the answer is indeterminate.
    log.exception("unexpected error")
    return 500, {"error": {"code": "internal", "definite": False, "text": repr(e)}}


def handler_for(service: BillingService, config: Config):
    class Handler(BaseHTTPRequestHandler):
        # Keep-alive: faultline's client pools connections.
        protocol_version = "HTTP/1.1"
        # Idle keep-alive connections are closed after a minute.
        timeout = 60
        # Send each answer in one segment: headers and body written apart, with
        # Nagle's algorithm and the client's delayed ACK, cost 40 ms per request.
        disable_nagle_algorithm = True
        wbufsize = 1 << 16

        def do_GET(self):
            if self.path == "/v1/health":
                self.reply(200, {"ok": True, "protocol": PROTOCOL, "run": config.run_id})
            elif self.path == "/v1/layout":
                self.call(service.layout)
            else:
                self.reply(404, NotFound("not-found", f"no GET {self.path}").body())

        def do_POST(self):
            method = ROUTES.get(("POST", self.path))
            body = self.read_body()
            if body is None:
                return
            if method is None:
                self.reply(404, NotFound("not-found", f"no POST {self.path}").body())
                return
            req = self.request_of(body)
            self.call(lambda: getattr(service, method)(req))

        def read_body(self) -> dict | None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            try:
                body = json.loads(raw)
                if isinstance(body, dict):
                    return body
            except ValueError:
                pass
            self.reply(400, BadRequest("bad-request", "the body must be a JSON object").body())
            return None

        def request_of(self, body: dict) -> Request:
            op = body.get("op", self.headers.get("Faultline-Op"))
            ms = body.get("deadline_ms", self.headers.get("Faultline-Deadline-Ms"))
            seconds = int(ms) / 1000 if ms is not None else config.op_timeout
            return Request(body, int(op) if op is not None else None, Deadline(seconds))

        def call(self, fn):
            try:
                self.reply(200, fn())
            except Exception as e:
                self.reply(*answer_error(e))

        def reply(self, status: int, body: dict):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):
            # One line per request would flood the run's service.stderr.log; errors
            # are logged where they happen.
            pass

    return Handler


def serve(service: BillingService, config: Config) -> None:
    """Serves `service` on exactly `FAULTLINE_LISTEN` until the process is killed."""
    server = ThreadingHTTPServer(config.listen, handler_for(service, config))
    server.daemon_threads = True
    log.info("%s listening on %s:%d (run %s)", type(service).__name__, *config.listen,
             config.run_id)
    server.serve_forever()


def configure_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("FAULTLINE_LOG", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
