"""faultline's standard layout of the two stores (workloads/src/sut/standard.rs), which
faultline reads the final states from when a service answers `GET /v1/layout` with
`404` (docs/protocol.md section 6):

- Redis: `balance:<account>`, the in-flight balance in cents.
- Postgres, the double-bookkeeping ledger: `accounts` (balance, a version bumped by
  every change, the recharge policy, recharges started, `suspended`),
  `ledger_entries` (one row per balance change, summing to the balance; an entry that
  credits a card charge carries the gateway's charge number) and `charges` (charge
  intents, one per idempotency key, at most one `pending` per account).

A service that keeps this layout may answer `POST /v1/setup` with `404` and let
faultline create and seed it (naive.py does); `create_schema` and `seed` here do the
same, for a service that adds to the schema (failsafe.py adds its functions).
"""

from __future__ import annotations

from faultline_service import BadRequest, Deadline
from stores import Ledger, RedisMaster

SCHEMA = """
DROP TABLE IF EXISTS ledger_entries, charges, accounts CASCADE;
CREATE TABLE accounts (
    id integer PRIMARY KEY,
    balance bigint NOT NULL,
    version bigint NOT NULL DEFAULT 0,
    threshold bigint NOT NULL,
    recharge bigint NOT NULL,
    recharges bigint NOT NULL DEFAULT 0,
    suspended boolean NOT NULL DEFAULT false
);
CREATE TABLE ledger_entries (
    id bigserial PRIMARY KEY,
    account integer NOT NULL REFERENCES accounts (id),
    kind text NOT NULL CHECK (kind IN ('open', 'debit', 'payment', 'recharge')),
    amount bigint NOT NULL,
    idempotency_key text UNIQUE,
    charge_id bigint UNIQUE,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE charges (
    idempotency_key text PRIMARY KEY,
    account integer NOT NULL REFERENCES accounts (id),
    amount bigint NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'charging', 'credited', 'declined', 'cancelled')),
    charge_id bigint UNIQUE,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX one_pending_charge_per_account ON charges (account) WHERE status IN ('pending', 'charging');
"""

# Redis keys read or written in one request.
CHUNK = 500


def balance_key(account: int) -> str:
    return f"balance:{account}"


def accounts_of(body: dict) -> list[tuple[int, int, int, int]]:
    """`(account, opening balance, threshold, recharge)` of each account in a setup
    request (`{"accounts": [{"account", "balance", "threshold", "recharge"}]}`)."""
    try:
        return [
            # The opening balance is `balance`; `opening` is the protocol's first draft.
            (a["account"], a["balance"] if "balance" in a else a["opening"], a["threshold"],
             a["recharge"])
            for a in body["accounts"]
        ]
    except (KeyError, TypeError) as e:
        raise BadRequest("bad-request", f"setup wants {{\"accounts\": [Account...]}}: {e!r}")


def create_schema(redis: RedisMaster, ledger: Ledger, deadline: Deadline, extra: str = "") -> None:
    """Empties both stores and creates the ledger's tables (and `extra` definitions)."""
    redis.call(lambda r: r.flushall())
    with ledger.connection(deadline, cap=deadline.remaining()) as conn:
        conn.execute(SCHEMA + extra)


def seed(redis: RedisMaster, ledger: Ledger, deadline: Deadline, accounts) -> None:
    """Opens every account at its opening balance, in the ledger (with an `open`
    entry) and in Redis."""
    ids, balances, thresholds, recharges = ([a[i] for a in accounts] for i in range(4))
    with ledger.connection(deadline, cap=deadline.remaining()) as conn:
        conn.execute(
            """WITH opened AS (
                   INSERT INTO accounts (id, balance, threshold, recharge)
                   SELECT * FROM UNNEST(%s::int[], %s::bigint[], %s::bigint[], %s::bigint[])
                   RETURNING id, balance)
               INSERT INTO ledger_entries (account, kind, amount)
               SELECT id, 'open', balance FROM opened""",
            (ids, balances, thresholds, recharges),
        )
    for start in range(0, len(ids), CHUNK):
        chunk = {balance_key(a): b for a, b in zip(ids[start:start + CHUNK],
                                                    balances[start:start + CHUNK])}
        redis.call(lambda r: r.mset(chunk))


def in_flight_balances(redis: RedisMaster, accounts: list[int]) -> list[int | None | str]:
    """Every account's Redis balance, in order: an int, `None` when missing, or the
    error text when unreadable (as workloads/src/truth.rs reads them)."""
    seen = []
    for start in range(0, len(accounts), CHUNK):
        keys = [balance_key(a) for a in accounts[start:start + CHUNK]]
        try:
            values = redis.call(lambda r: r.mget(keys))
        except Exception as e:
            seen.extend(str(e) for _ in keys)
            continue
        seen.extend(observed(v) for v in values)
    return seen


def observed(value: bytes | None) -> int | None | str:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return f"not a balance: {value!r}"
