"""`naive`: the billing service as it was in July 2013, a port of
designs/src/naive.rs to a `faultline-http/1` service.

In-flight balances live in Redis, on the master. A debit is one Lua script: it
decrements the balance and, when that leaves it below the threshold and no recharge
is pending for the account, sets a pending flag and asks for a recharge, so
concurrent debits never recharge twice. A recharge charges the card through the
gateway (no idempotency key), then credits the balance and clears the flag (another
script). The ledger in Postgres records each balance change once its Redis write
succeeded: double bookkeeping of changes that happened. A declined card suspends the
account, in the ledger and in Redis, where debits check it.

What made it fail: a debit whose Redis write fails is **logged and ignored**. The
debit still succeeds, and a fallback reads the balance with `GET`, where a missing
balance reads as 0, and recharges if that is below the threshold. On a master that
lost its data and refuses writes, every debit charges the card and no credit is ever
recorded.

A gateway error is logged and ignored too (the Rust original predates gateway
errors): nothing is credited and the pending flag stays set.

It keeps the standard layout and leaves setting it up to faultline (`POST /v1/setup`
answers 404).

    FAULTLINE_LISTEN=127.0.0.1:8080 ... python naive.py
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from card_gateway import Captured, Gateway, GatewayError
from faultline_service import (BillingService, Config, Deadline, Refused, Request, Topology,
                               configure_logging, serve)
from standard import balance_key
from stores import Ledger, RedisMaster, StoreError

log = logging.getLogger("naive")

# Decrements the balance; asks for a recharge when it crosses below the threshold and
# none is pending. KEYS: balance, pending flag, suspended flag. ARGV: amount,
# threshold. Returns `{balance, 1 recharge | 0 none | -1 suspended}`.
DEBIT = """#!lua
if redis.call('EXISTS', KEYS[3]) == 1 then return {0, -1} end
local balance = redis.call('DECRBY', KEYS[1], ARGV[1])
if balance < tonumber(ARGV[2]) and redis.call('SET', KEYS[2], 1, 'NX') then
    return {balance, 1}
end
return {balance, 0}"""

# Credits a recharge and clears the pending flag. KEYS: balance, pending flag. ARGV:
# amount. Returns the balance.
CREDIT = """#!lua
local balance = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return balance"""

# Suspends the account and clears the pending flag. KEYS: suspended flag, pending flag.
SUSPEND = """#!lua
redis.call('SET', KEYS[1], 1)
redis.call('DEL', KEYS[2])
return 1"""


def pending_key(account: int) -> str:
    return f"recharge-pending:{account}"


def suspended_key(account: int) -> str:
    return f"suspended:{account}"


@dataclass(frozen=True)
class Policy:
    """An account's auto-recharge policy, as the ledger holds it."""

    threshold: int
    recharge: int


class Naive(BillingService):
    def __init__(self, config: Config):
        topology = Topology(config)
        topology.follow()
        self.redis = RedisMaster(topology, timeout=min(1.0, config.op_timeout))
        self.ledger = Ledger(topology, statement_timeout=2.0)
        self.gateway = Gateway(config.gateway_url)
        self.scripts = {name: self.redis.register_script(source)
                        for name, source in (("debit", DEBIT), ("credit", CREDIT),
                                             ("suspend", SUSPEND))}
        self._policies: dict[int, Policy] | None = None
        self._policies_lock = threading.Lock()

    def script(self, name: str, keys: list[str], args: list[int]):
        return self.redis.call(lambda r: self.scripts[name](keys, args, client=r))

    # --- the protocol's operations -------------------------------------------------

    def debit(self, req: Request) -> dict:
        account, amount = req.account, req.amount
        policy = self.policy(account, req.deadline)
        keys = [balance_key(account), pending_key(account), suspended_key(account)]
        try:
            balance, recharge = self.script("debit", keys, [amount, policy.threshold])
        except StoreError as e:
            log.warning("account %d: debit of %d not written to the balance store, ignored: %s",
                        account, amount, e)
            return self.fallback(account, policy, req)
        if recharge == -1:
            raise Refused("suspended", f"account {account} is suspended")
        self.book(account, "debit", -amount, None, req.deadline)
        if recharge == 1:
            req.deadline.check("recharging")
            balance = self.recharge(account, policy, balance, req)
        return {"balance": balance}

    def payment(self, req: Request) -> dict:
        account, amount = req.account, req.amount
        balance = self.redis.call(lambda r: r.incrby(balance_key(account), amount))
        self.book(account, "payment", amount, None, req.deadline)
        return {"balance": balance}

    def balance(self, req: Request) -> dict:
        balance = self.redis.call(lambda r: r.get(balance_key(req.account)))
        return {"balance": int(balance or 0)}

    # --- the design ------------------------------------------------------------------

    def policy(self, account: int, deadline: Deadline) -> Policy:
        """The account's policy, loaded from the ledger once for all accounts."""
        with self._policies_lock:
            if self._policies is None:
                rows = self.ledger.query("SELECT id, threshold, recharge FROM accounts", (),
                                         deadline)
                self._policies = {id: Policy(t, r) for id, t, r in rows}
            policy = self._policies.get(account)
        if policy is None:
            raise Refused("no-account", f"no account {account}")
        return policy

    def fallback(self, account: int, policy: Policy, req: Request) -> dict:
        """A failed Redis write is logged and ignored: the balance is read again
        (missing reads as 0) and recharged if it is below the threshold."""
        try:
            balance = int(self.redis.call(lambda r: r.get(balance_key(account))) or 0)
        except StoreError as e:
            log.warning("account %d: balance unreadable, no recharge: %s", account, e)
            return {}
        if balance < policy.threshold:
            req.deadline.check("recharging")
            balance = self.recharge(account, policy, balance, req)
        return {"balance": balance}

    def recharge(self, account: int, policy: Policy, balance: int, req: Request) -> int:
        """Charges the card, then credits the balance; returns the balance after."""
        try:
            outcome = self.gateway.charge(account, policy.recharge, None, op=req.op,
                                          timeout=req.deadline.timeout())
        except GatewayError as e:
            log.warning("account %d: recharge failed, ignored: %s", account, e)
            return balance
        if isinstance(outcome, Captured):
            keys = [balance_key(account), pending_key(account)]
            try:
                after = self.script("credit", keys, [policy.recharge])
            except StoreError as e:
                log.warning("account %d: charge %d not credited, ignored: %s", account,
                            outcome.charge, e)
                return balance
            self.book(account, "recharge", policy.recharge, outcome.charge, req.deadline)
            return after
        log.warning("account %d: charge %d declined (%s): suspending", account, outcome.charge,
                    outcome.reason)
        self.suspend(account, req.deadline)
        return balance

    def suspend(self, account: int, deadline: Deadline) -> None:
        try:
            self.ledger.query("UPDATE accounts SET suspended = true WHERE id = %s", (account,),
                              deadline)
        except StoreError as e:
            log.warning("account %d: suspension not recorded in the ledger, ignored: %s",
                        account, e)
        try:
            self.script("suspend", [suspended_key(account), pending_key(account)], [])
        except StoreError as e:
            log.warning("account %d: suspension not written to the balance store, ignored: %s",
                        account, e)

    def book(self, account: int, kind: str, amount: int, charge: int | None,
             deadline: Deadline) -> None:
        """Records a balance change that happened in Redis; a failure is logged and
        ignored."""
        try:
            self.ledger.query(
                """WITH entry AS (
                       INSERT INTO ledger_entries (account, kind, amount, charge_id)
                       VALUES (%(account)s, %(kind)s, %(amount)s, %(charge)s))
                   UPDATE accounts SET balance = balance + %(amount)s, version = version + 1
                   WHERE id = %(account)s""",
                {"account": account, "kind": kind, "amount": amount, "charge": charge},
                deadline,
            )
        except StoreError as e:
            log.warning("account %d: ledger entry %s %d not recorded, ignored: %s", account,
                        kind, amount, e)


def main() -> None:
    configure_logging()
    config = Config.from_env()
    serve(Naive(config), config)


if __name__ == "__main__":
    main()
