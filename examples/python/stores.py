"""Connections to Redis and Postgres that follow the live topology, and what their
errors mean for the operation that got them.

- `StoreError`: a failed request, classified once: did it certainly not apply
  (`definite`: answered as a `fail`), or may it have (an `info`)? A request that was
  never sent (no connection could be made) certainly did not apply; one that timed
  out or lost its connection after it was sent may have.
- `RedisMaster`: a redis-py connection pool for whichever node is the master now.
  Each call checks a connection out first, so a refused connection is told apart
  from a request lost in flight. redis-py's automatic retries are turned off: a
  retried `DECRBY` after a dropped connection could apply twice.
- `Ledger`: a small pool of psycopg connections to Postgres, rebuilt when Postgres
  moves. Every statement is bounded by the operation's deadline: Postgres's own
  `statement_timeout`, and a client-side watchdog that shuts the socket down if the
  server goes silent (a paused server never answers, and psycopg has no client-side
  query timeout).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
import threading
import time
from contextlib import contextmanager

import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from faultline_service import Deadline, Topology

log = logging.getLogger("stores")

# Error kinds, as workloads/src/store/mod.rs names them.
READONLY = "readonly"  # a replica refused a write (READONLY); Postgres in recovery
LOADING = "loading"  # the node is loading its dataset, or the database is starting
REJECTED = "rejected"  # the store answered with an error: the request did not apply
UNREACHABLE = "unreachable"  # no connection could be made: the request was never sent
TIMEOUT = "timeout"  # no answer in time: the request may have applied
DROPPED = "dropped"  # the connection broke while the request was out: it may have applied
UNKNOWN = "unknown"  # anything else: it may have applied

DEFINITE = {READONLY, LOADING, REJECTED, UNREACHABLE}


class StoreError(Exception):
    """A failed request to Redis or Postgres; `faultline_service` answers it with
    `definite` set from its kind."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.definite = kind in DEFINITE
        self.code = f"store-{kind}"


# --- Redis --------------------------------------------------------------------------


def classify_redis(e: redis.RedisError) -> StoreError:
    """What an error on a connected client means (the request was sent)."""
    if isinstance(e, redis.exceptions.ReadOnlyError):
        kind = READONLY
    elif isinstance(e, redis.exceptions.BusyLoadingError):
        kind = LOADING
    elif isinstance(e, redis.exceptions.ResponseError):
        kind = REJECTED
    elif isinstance(e, redis.exceptions.TimeoutError):
        kind = TIMEOUT
    elif isinstance(e, redis.exceptions.ConnectionError):
        kind = DROPPED
    else:
        kind = UNKNOWN
    return StoreError(kind, f"redis: {e}")


class RedisMaster:
    """The current Redis master. `timeout` bounds each connect and each reply (redis-py
    sets a connection's socket timeout once, so it is a fixed bound, not the
    operation's deadline: callers check the deadline between calls)."""

    def __init__(self, topology: Topology, timeout: float):
        self._topology = topology
        self._timeout = timeout
        self._lock = threading.Lock()
        self._addr, self._pool = None, None
        self._pool_now()

    def _pool_now(self) -> redis.ConnectionPool:
        addr = self._topology.current().redis_master
        with self._lock:
            if addr != self._addr:
                old, self._addr = self._pool, addr
                host, _, port = addr.rpartition(":")
                self._pool = redis.ConnectionPool(
                    host=host,
                    port=int(port),
                    socket_timeout=self._timeout,
                    socket_connect_timeout=self._timeout,
                    retry=Retry(NoBackoff(), 0),
                    max_connections=64,
                )
                if old is not None:
                    old.disconnect(inuse_connections=False)
            return self._pool

    def register_script(self, source: str):
        """A Lua script (redis-py's `Script`: EVALSHA, loading it on NOSCRIPT); run it
        inside `call` with `client=r`."""
        return redis.Redis(connection_pool=self._pool_now()).register_script(source)

    def call(self, fn):
        """Runs `fn(r)` with `r` a client holding one connection to the master."""
        pool = self._pool_now()
        try:
            # Checks a connection out and connects it: nothing is sent yet.
            r = redis.Redis(connection_pool=pool, single_connection_client=True)
        except redis.RedisError as e:
            raise StoreError(UNREACHABLE, f"redis {self._addr}: {e}") from e
        try:
            return fn(r)
        except redis.RedisError as e:
            raise classify_redis(e) from e
        finally:
            r.close()

    def is_master(self) -> bool:
        """Whether the node says it is the master (`ROLE`): a node restarted as a
        replica of itself says it is not."""
        role = self.call(lambda r: r.execute_command("ROLE"))
        return bool(role) and role[0] in (b"master", "master")


# --- Postgres -----------------------------------------------------------------------


def sqlstate_kind(code: str) -> str:
    """What a SQLSTATE means: a connection failure or a shutdown may have cut a commit
    short; a starting database refuses; anything else the server reports rolled the
    statement back (a constraint, a serialization failure, a cancelled statement)."""
    if code == "25006":
        return READONLY
    if code == "57P03":
        return LOADING
    if code in ("57P01", "57P02") or code.startswith("08"):
        return DROPPED
    if code.startswith("XX"):
        return UNKNOWN
    return REJECTED


class _Watchdog:
    """Shuts a connection's socket down if its statement outlives its timeout, so a
    silent server cannot hold the operation past its deadline. One thread watches
    every armed connection (a thread per statement costs more than the statement)."""

    class Alarm:
        def __init__(self, conn: psycopg.Connection):
            self.conn = conn
            self.armed = True
            self.fired = False

    def __init__(self):
        self._cond = threading.Condition()
        self._alarms: list[tuple[float, int, _Watchdog.Alarm]] = []
        self._count = itertools.count()
        threading.Thread(target=self._watch, name="postgres-watchdog", daemon=True).start()

    def arm(self, conn: psycopg.Connection, timeout: float) -> Alarm:
        alarm = self.Alarm(conn)
        with self._cond:
            heapq.heappush(self._alarms, (time.monotonic() + timeout, next(self._count), alarm))
            self._cond.notify()
        return alarm

    def disarm(self, alarm: Alarm) -> None:
        with self._cond:
            alarm.armed = False

    def _watch(self) -> None:
        with self._cond:
            while True:
                if not self._alarms:
                    self._cond.wait()
                    continue
                at, _, alarm = self._alarms[0]
                wait = at - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._alarms)
                if alarm.armed:
                    alarm.fired = True
                    # shutdown() acts on the socket, not the descriptor: libpq's
                    # blocked read returns at once and psycopg reports the connection
                    # lost.
                    with socket.socket(fileno=os.dup(alarm.conn.pgconn.socket)) as s:
                        s.shutdown(socket.SHUT_RDWR)


class Ledger:
    """The ledger database. `durable` makes every session demand
    `synchronous_commit = on`, so an acknowledged commit is on disk whatever the
    server's default (see workloads/src/store/ledger.rs)."""

    POOL_SIZE = 16

    def __init__(self, topology: Topology, *, statement_timeout: float, durable: bool = False):
        self._topology = topology
        self._statement_timeout = statement_timeout
        self._durable = durable
        self._lock = threading.Lock()
        self._url = None
        self._idle: list[psycopg.Connection] = []
        self._watchdog = _Watchdog()

    def _options(self) -> str:
        options = f"-c statement_timeout={int(self._statement_timeout * 1000)}"
        if self._durable:
            options += " -c synchronous_commit=on"
        return options

    def _checkout(self, deadline: Deadline) -> tuple[str, psycopg.Connection]:
        url = self._topology.current().postgres_url
        with self._lock:
            if url != self._url:  # Postgres moved: drop the old connections
                stale, self._idle, self._url = self._idle, [], url
                for conn in stale:
                    conn.close()
            if self._idle:
                return url, self._idle.pop()
        try:
            conn = psycopg.connect(
                url,
                autocommit=True,
                options=self._options(),
                # libpq counts whole seconds, at least 2.
                connect_timeout=max(2, round(deadline.timeout())),
            )
        except psycopg.Error as e:
            raise StoreError(UNREACHABLE, f"postgres: {e}") from e
        return url, conn

    def _checkin(self, url: str, conn: psycopg.Connection) -> None:
        with self._lock:
            if url == self._url and len(self._idle) < self.POOL_SIZE and not conn.closed:
                self._idle.append(conn)
                return
        conn.close()

    @contextmanager
    def connection(self, deadline: Deadline, cap: float | None = None):
        """A connection for one or more statements, which must all finish within
        `deadline` and `cap` seconds (by default the statement timeout and half a
        second for the network). A connection whose statement failed is closed."""
        url, conn = self._checkout(deadline)
        cap = self._statement_timeout + 0.5 if cap is None else cap
        alarm = self._watchdog.arm(conn, deadline.timeout(cap))
        try:
            yield conn
        except psycopg.Error as e:
            self._watchdog.disarm(alarm)
            conn.close()
            raise self._classify(e, alarm.fired) from e
        except BaseException:
            self._watchdog.disarm(alarm)
            conn.close()
            raise
        self._watchdog.disarm(alarm)
        if alarm.fired:
            conn.close()
        else:
            self._checkin(url, conn)

    @staticmethod
    def _classify(e: psycopg.Error, timed_out: bool) -> StoreError:
        if timed_out:
            return StoreError(TIMEOUT, f"postgres: no answer in time ({e})")
        if e.sqlstate:
            return StoreError(sqlstate_kind(e.sqlstate), f"postgres: {e}")
        if isinstance(e, (psycopg.OperationalError, psycopg.InterfaceError)):
            return StoreError(DROPPED, f"postgres: {e}")
        return StoreError(UNKNOWN, f"postgres: {e}")

    def query(self, sql: str, params: tuple, deadline: Deadline) -> list[tuple]:
        """Runs one statement (its own transaction) and returns its rows."""
        with self.connection(deadline) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def one(self, sql: str, params: tuple, deadline: Deadline) -> tuple:
        """Runs a statement that must return exactly one row."""
        rows = self.query(sql, params, deadline)
        if len(rows) != 1:
            raise StoreError(UNKNOWN, f"postgres: expected one row, got {len(rows)}")
        return rows[0]
