"""`failsafe`: the billing service as announced after the 2013 incident, a port of
designs/src/failsafe/ (mod.rs, ledger.rs) to a `faultline-http/1` service.

- **The ledger is the source of truth, durably.** Its sessions demand
  `synchronous_commit = on`. Each debit or payment commits a ledger entry
  (idempotency key: the operation's id) and the account's new balance and version in
  one transaction, then publishes (balance, version) to Redis with a set-if-newer
  script, so concurrent writers and repairs commute.
- **Intent before charge.** A debit that leaves the balance below the threshold
  records a charge intent in the same transaction, keyed by account and recharge
  sequence; at most one is outstanding per account. The intent's key goes to the
  gateway as its `Idempotency-Key`, so a concurrent or retried recharge never charges
  twice. After a capture the ledger credits it (idempotent by charge), then Redis.
- **After a gateway error, ask before charging again.** A `500` or a timeout may have
  captured the money: the service looks the key up (`GET /v1/charges?idempotency_key=`)
  and carries on with what the gateway recorded. If nothing was charged and the
  gateway is done with the key (it answered), the key is spent (the gateway replays
  its error for it): the intent is cancelled and the next debit below the threshold
  opens one with a fresh key. If it never answered, the charge may still land: the
  operation answers indeterminate and the intent waits for a later look-up.
- **Fail-safe.** A card is charged only when the balance was just written to Redis
  (so it exists and the store takes writes) and the node says it is the master. A
  decline suspends the account only under the same condition. Otherwise the intent
  waits: the next operation on the account, or `settle`, completes it.
- **`ok` only once credited.** An operation whose capture could not be credited
  answers indeterminate (`"definite": false`); `settle` credits it.
- **Validated as it goes.** Every operation publishes the ledger's state, which
  repairs a Redis balance that is behind or missing; `settle` compares every account
  and repairs what disagrees.

It keeps the standard layout and sets it up itself (`POST /v1/setup`), because its
ledger functions are part of its schema.

The deliberate bug `FAULTLINE_BUG=retry-fresh-key` (or `--bug retry-fresh-key`):
after a gateway error or timeout, charge again at once with a new idempotency key
instead of looking the first one up. A lost response or an error after capture then
charges the card twice for one recharge; faultline's gateway faults expose it.

    FAULTLINE_LISTEN=127.0.0.1:8080 ... python failsafe.py [--bug retry-fresh-key]
"""

from __future__ import annotations

import argparse
import logging
import os
import time

import failsafe_ledger as ledger_ops
import standard
from card_gateway import Captured, Declined, Gateway, GatewayError
from faultline_service import (BillingService, Config, Deadline, Indeterminate, Refused, Request,
                               Topology, configure_logging, serve)
from stores import Ledger, RedisMaster, StoreError

log = logging.getLogger("failsafe")

BUGS = ("retry-fresh-key",)

# Publishes a ledger balance unless Redis holds that version or a newer one; a balance
# at the same version that differs is overwritten (the ledger wins). KEYS: balance,
# version. ARGV: balance, version. Returns 0 when Redis was current, 1 when it was
# behind, 2 when the balance was missing.
PUBLISH = """#!lua
local present = redis.call('EXISTS', KEYS[1]) == 1
local stored = tonumber(redis.call('GET', KEYS[2]) or '-1')
local version = tonumber(ARGV[2])
if present and (stored > version or (stored == version and redis.call('GET', KEYS[1]) == ARGV[1])) then
    return 0
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
if present then return 1 end
return 2"""


def version_key(account: int) -> str:
    return f"balance-version:{account}"


class NotCharged(Exception):
    """The intent stays pending and nothing was captured for it by this operation (the
    store was unsafe, the gateway down, the ledger unreachable): a later operation or
    settle completes it. The operation itself answers `ok`."""


class FailSafe(BillingService):
    def __init__(self, config: Config, bug: str | None):
        topology = Topology(config)
        topology.follow()
        self.redis = RedisMaster(topology, timeout=min(1.0, config.op_timeout))
        self.ledger = Ledger(topology, statement_timeout=2.0, durable=True)
        self.gateway = Gateway(config.gateway_url)
        self.publish_script = self.redis.register_script(PUBLISH)
        self.bug = bug
        self.op_timeout = config.op_timeout

    def gateway_timeout(self, deadline: Deadline, share: float = 1.0) -> float:
        """A gateway call's timeout: `share` of what is left of the deadline, and no
        more than one client operation's (settle has a long deadline)."""
        return deadline.timeout(cap=self.op_timeout, share=share)

    # --- the protocol's operations -------------------------------------------------

    def setup(self, req: Request) -> dict:
        accounts = standard.accounts_of(req.body)
        standard.create_schema(self.redis, self.ledger, req.deadline, ledger_ops.FUNCTIONS)
        standard.seed(self.redis, self.ledger, req.deadline, accounts)
        return {"accounts": len(accounts)}

    def debit(self, req: Request) -> dict:
        return self.change(req, "debit", -req.amount)

    def payment(self, req: Request) -> dict:
        return self.change(req, "payment", req.amount)

    def balance(self, req: Request) -> dict:
        read = ledger_ops.read(self.ledger, req.account, req.deadline)
        if read is None:
            raise Refused("no-account", f"no account {req.account}")
        writable = self.publish(read.state)
        if read.pending:
            self.complete(read.pending, writable, req.op, req.deadline)
        return {"balance": read.state.balance}

    def settle(self, req: Request) -> dict:
        """Settles until a whole pass finds no pending intent and no disagreeing
        balance, or the deadline passes."""
        while True:
            try:
                found = self.settle_pass(req.deadline)
            except StoreError as e:
                found = e
            if found == 0:
                return {"settled": True}
            if req.deadline.remaining() < 0.1:
                left = found if isinstance(found, StoreError) else f"{found} intents or balances"
                raise Indeterminate("unsettled", f"could not settle in time: {left} unsettled")
            time.sleep(0.1)

    # --- the design ------------------------------------------------------------------

    def change(self, req: Request, kind: str, amount: int) -> dict:
        applied = ledger_ops.apply(self.ledger, req.account, kind, amount, f"op-{req.op}",
                                   req.deadline)
        if applied.outcome == "suspended":
            raise Refused("suspended", f"account {req.account} is suspended")
        if applied.outcome != "ok":
            raise Refused(applied.outcome, f"account {req.account}: {applied.outcome}")
        writable = self.publish(applied.state)
        if applied.pending:
            self.complete(applied.pending, writable, req.op, req.deadline)
        return {"balance": applied.state.balance}

    def publish(self, state: ledger_ops.Versioned) -> bool:
        """Writes the ledger's state to Redis; true when the store took the write and
        already held a balance for the account: the condition for charging."""
        keys = [standard.balance_key(state.account), version_key(state.account)]
        try:
            result = self.redis.call(
                lambda r: self.publish_script(keys, [state.balance, state.version], client=r))
        except StoreError as e:
            log.debug("account %d: balance store not updated: %s", state.account, e)
            return False
        if result == 2:
            log.info("account %d: balance was missing: restored from the ledger", state.account)
            return False
        return True

    def complete(self, key: str, writable: bool, op: int | None, deadline: Deadline) -> None:
        """Tries to complete recharge intent `key`; it stays pending if it cannot be.
        Raises `Indeterminate` when money may have been captured and is not credited."""
        try:
            self.try_complete(key, writable, op, deadline)
        except NotCharged as e:
            log.debug("%s: recharge left pending: %s", key, e)

    def try_complete(self, key: str, writable: bool, op: int | None, deadline: Deadline):
        try:
            outcome = self.gateway.lookup(key, timeout=self.gateway_timeout(deadline, share=0.5))
            if outcome is None:
                if not writable or not self.redis.is_master():
                    return
                to_charge = ledger_ops.begin_charge(self.ledger, key, deadline)
                if to_charge is None:
                    return
                deadline.check(f"charging {key}")
                outcome = self.charge(key, *to_charge, op, deadline)
        except (StoreError, GatewayError) as e:
            raise NotCharged(e) from e
        if isinstance(outcome, Captured):
            self.credit(key, outcome.charge, deadline)
        else:
            self.decline(key, outcome, deadline)

    def charge(self, key: str, account: int, amount: int, op: int | None,
               deadline: Deadline) -> Captured | Declined:
        """Charges intent `key`; after an error, what the gateway recorded for the key.
        Raises `NotCharged` when nothing was captured, `Indeterminate` when that cannot
        be told yet."""
        try:
            return self.gateway.charge(account, amount, key, op=op,
                                       timeout=self.gateway_timeout(deadline, share=0.5))
        except GatewayError as error:
            if self.bug == "retry-fresh-key":
                return self.retry_with_fresh_key(key, error, account, amount, op, deadline)
            return self.after_error(key, error, deadline)

    def retry_with_fresh_key(self, key, error, account, amount, op, deadline):
        """THE BUG (`FAULTLINE_BUG=retry-fresh-key`): a new key is a new charge,
        whatever became of the first one."""
        log.warning("%s: %s; retrying with a fresh key", key, error)
        try:
            return self.gateway.charge(account, amount, f"{key}-retry-{time.time_ns()}",
                                       op=op, timeout=self.gateway_timeout(deadline))
        except GatewayError as e:
            raise Indeterminate("charge-unknown", f"charge {key} failed twice: {e}") from e

    def after_error(self, key: str, error: GatewayError, deadline: Deadline):
        """Stripe's advice: after an error, look the key up rather than charge again."""
        try:
            outcome = self.gateway.lookup(key, timeout=self.gateway_timeout(deadline))
        except GatewayError as e:
            if error.unavailable:
                raise NotCharged(f"{error}; lookup: {e}")
            raise Indeterminate("charge-unknown",
                                f"charge {key} may have been captured ({error}); lookup: {e}")
        if outcome is not None:
            return outcome
        if error.finished:
            # The gateway is done with the key and charged nothing under it: the key
            # is spent (a retry would replay the error), so the intent is cancelled.
            ledger_ops.cancel(self.ledger, key, deadline)
            raise NotCharged(f"{error}; nothing charged, key {key} retired")
        if error.unavailable:
            raise NotCharged(str(error))
        raise Indeterminate("charge-unknown",
                            f"charge {key} may still be captured ({error}); a later "
                            f"operation or settle looks it up again")

    def credit(self, key: str, charge: int, deadline: Deadline) -> None:
        """Credits a capture; answering `ok` before it is credited would be a lie."""
        try:
            state = ledger_ops.credit(self.ledger, key, charge, deadline)
        except StoreError as e:
            raise Indeterminate(
                "uncredited",
                f"charge {charge} was captured but not yet credited ({e}); settle credits it",
            ) from e
        self.publish(state)

    def decline(self, key: str, outcome: Declined, deadline: Deadline) -> None:
        try:
            state = ledger_ops.decline(self.ledger, key, outcome.charge, deadline)
            if self.publish(state) and self.redis.is_master():
                ledger_ops.suspend(self.ledger, state.account, deadline)
        except StoreError as e:
            raise NotCharged(e) from e

    def sync(self, account: int, deadline: Deadline) -> bool:
        """Publishes one account's ledger state; true when it is safe to charge."""
        read = ledger_ops.read(self.ledger, account, deadline)
        return read is not None and self.publish(read.state)

    def settle_pass(self, deadline: Deadline) -> int:
        """Completes pending intents and repairs every balance that disagrees with the
        ledger; returns how many things it found to do."""
        pending = ledger_ops.pending(self.ledger, deadline)
        for key, account in pending:
            writable = self.sync(account, deadline)
            try:
                self.complete(key, writable, None, deadline)
            except Indeterminate as e:
                log.debug("%s: recharge still pending: %s", key, e)
        states = ledger_ops.all_accounts(self.ledger, deadline)
        seen = standard.in_flight_balances(self.redis, [s.account for s in states])
        disagreeing = 0
        for state, balance in zip(states, seen):
            if balance != state.balance:
                disagreeing += 1
                self.publish(state)
        return len(pending) + disagreeing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bug", choices=BUGS, default=os.environ.get("FAULTLINE_BUG") or None,
                        help="inject a deliberate bug (also FAULTLINE_BUG)")
    args = parser.parse_args()
    if args.bug not in (None, *BUGS):
        raise SystemExit(f"FAULTLINE_BUG={args.bug!r}: known bugs are {', '.join(BUGS)}")
    configure_logging()
    if args.bug:
        log.warning("running with the deliberate bug %s", args.bug)
    config = Config.from_env()
    serve(FailSafe(config, args.bug), config)


if __name__ == "__main__":
    main()
