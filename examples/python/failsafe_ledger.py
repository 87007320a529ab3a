"""The fail-safe service's ledger operations (designs/src/failsafe/ledger.rs):
each one statement, a PL/pgSQL function that locks the account row, so each is atomic
and costs one round trip. The functions are created with the schema (`POST
/v1/setup`), which is why failsafe.py sets up the standard layout itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from faultline_service import Deadline
from stores import Ledger, StoreError, UNKNOWN

# Copied verbatim from ledger.rs, so both ports run the same SQL.
FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION failsafe_apply(p_account integer, p_kind text, p_amount bigint, p_key text)
RETURNS TABLE (outcome text, new_balance bigint, new_version bigint, pending_key text)
LANGUAGE plpgsql AS $$
DECLARE
    a accounts%ROWTYPE;
BEGIN
    SELECT * INTO a FROM accounts WHERE id = p_account FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'no-account'::text, 0::bigint, 0::bigint, NULL::text;
        RETURN;
    END IF;
    outcome := 'ok';
    IF p_kind = 'debit' AND a.suspended THEN
        outcome := 'suspended';
    ELSE
        INSERT INTO ledger_entries (account, kind, amount, idempotency_key)
        VALUES (p_account, p_kind, p_amount, p_key)
        ON CONFLICT (idempotency_key) DO NOTHING;
        IF FOUND THEN
            UPDATE accounts SET balance = accounts.balance + p_amount, version = accounts.version + 1
            WHERE id = p_account RETURNING * INTO a;
            IF p_kind = 'debit' AND a.balance < a.threshold AND NOT EXISTS (
                SELECT 1 FROM charges c WHERE c.account = p_account AND c.status IN ('pending', 'charging')
            ) THEN
                UPDATE accounts SET recharges = accounts.recharges + 1
                WHERE id = p_account RETURNING * INTO a;
                INSERT INTO charges (idempotency_key, account, amount, status)
                VALUES ('recharge-' || p_account || '-' || a.recharges, p_account, a.recharge, 'pending');
            END IF;
        END IF;
    END IF;
    RETURN QUERY SELECT outcome, a.balance, a.version, (
        SELECT c.idempotency_key FROM charges c WHERE c.account = p_account AND c.status IN ('pending', 'charging')
    );
END $$;

CREATE OR REPLACE FUNCTION failsafe_begin_charge(p_key text)
RETURNS TABLE (outcome text, charge_account integer, charge_amount bigint)
LANGUAGE plpgsql AS $$
DECLARE
    c charges%ROWTYPE;
    a accounts%ROWTYPE;
BEGIN
    SELECT * INTO c FROM charges WHERE idempotency_key = p_key;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'no-intent'::text, NULL::integer, NULL::bigint;
        RETURN;
    END IF;
    SELECT * INTO a FROM accounts WHERE id = c.account FOR UPDATE;
    SELECT * INTO c FROM charges WHERE idempotency_key = p_key;
    IF c.status = 'charging' THEN
        -- A charge under this key may be under way: never cancel it; charging again
        -- under the same key is idempotent at the gateway.
        outcome := 'charge';
    ELSIF c.status <> 'pending' THEN
        outcome := c.status;
    ELSIF a.balance >= a.threshold THEN
        UPDATE charges SET status = 'cancelled' WHERE idempotency_key = p_key;
        outcome := 'cancelled';
    ELSE
        UPDATE charges SET status = 'charging' WHERE idempotency_key = p_key;
        outcome := 'charge';
    END IF;
    RETURN QUERY SELECT outcome, c.account, c.amount;
END $$;

CREATE OR REPLACE FUNCTION failsafe_credit(p_key text, p_charge bigint)
RETURNS TABLE (charge_account integer, new_balance bigint, new_version bigint)
LANGUAGE plpgsql AS $$
DECLARE
    c charges%ROWTYPE;
    a accounts%ROWTYPE;
BEGIN
    SELECT * INTO c FROM charges WHERE idempotency_key = p_key;
    SELECT * INTO a FROM accounts WHERE id = c.account FOR UPDATE;
    INSERT INTO ledger_entries (account, kind, amount, idempotency_key, charge_id)
    VALUES (c.account, 'recharge', c.amount, p_key, p_charge)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        UPDATE charges SET status = 'credited', charge_id = p_charge WHERE idempotency_key = p_key;
        UPDATE accounts SET balance = accounts.balance + c.amount, version = accounts.version + 1
        WHERE id = c.account RETURNING * INTO a;
    END IF;
    RETURN QUERY SELECT c.account, a.balance, a.version;
END $$;

CREATE OR REPLACE FUNCTION failsafe_decline(p_key text, p_charge bigint)
RETURNS TABLE (charge_account integer, new_balance bigint, new_version bigint)
LANGUAGE plpgsql AS $$
DECLARE
    c charges%ROWTYPE;
    a accounts%ROWTYPE;
BEGIN
    SELECT * INTO c FROM charges WHERE idempotency_key = p_key;
    SELECT * INTO a FROM accounts WHERE id = c.account FOR UPDATE;
    UPDATE charges SET status = 'declined', charge_id = p_charge
    WHERE idempotency_key = p_key AND status IN ('pending', 'charging');
    RETURN QUERY SELECT c.account, a.balance, a.version;
END $$;
"""


@dataclass(frozen=True)
class Versioned:
    """An account's ledger balance and its version."""

    account: int
    balance: int
    version: int


@dataclass(frozen=True)
class Applied:
    """The ledger after an operation, and the recharge intent outstanding on it."""

    outcome: str
    state: Versioned
    pending: str | None


def apply(ledger: Ledger, account: int, kind: str, amount: int, key: str,
          deadline: Deadline) -> Applied:
    """Applies a debit or payment (signed `amount`) once per `key`, and starts a
    recharge intent when a debit leaves the balance below the threshold with none
    outstanding."""
    row = ledger.one("SELECT * FROM failsafe_apply(%s, %s, %s, %s)",
                     (account, kind, amount, key), deadline)
    return Applied(row[0], Versioned(account, row[1], row[2]), row[3])


def read(ledger: Ledger, account: int, deadline: Deadline) -> Applied | None:
    """An account's balance and outstanding intent, without locking it; `None` when
    there is no such account."""
    rows = ledger.query(
        """SELECT a.balance, a.version, (
               SELECT c.idempotency_key FROM charges c WHERE c.account = a.id AND c.status IN ('pending', 'charging'))
           FROM accounts a WHERE a.id = %s""",
        (account,), deadline)
    if not rows:
        return None
    balance, version, pending = rows[0]
    return Applied("ok", Versioned(account, balance, version), pending)


def begin_charge(ledger: Ledger, key: str, deadline: Deadline) -> tuple[int, int] | None:
    """Re-checks intent `key` under the account's lock: `(account, amount)` to charge
    when it is still pending and the balance still below the threshold (it is then
    marked charging), or when it is charging already (another request may be charging
    it now: it is never cancelled, and the same key charges at most once); otherwise
    cancels a pending intent whose need is gone, and returns `None`."""
    outcome, account, amount = ledger.one("SELECT * FROM failsafe_begin_charge(%s)", (key,),
                                          deadline)
    return (account, amount) if outcome == "charge" and account is not None else None


def credit(ledger: Ledger, key: str, charge: int, deadline: Deadline) -> Versioned:
    """Credits the captured charge of intent `key`, once."""
    return _versioned(ledger.one("SELECT * FROM failsafe_credit(%s, %s)", (key, charge),
                                 deadline))


def decline(ledger: Ledger, key: str, charge: int, deadline: Deadline) -> Versioned:
    """Marks intent `key` declined."""
    return _versioned(ledger.one("SELECT * FROM failsafe_decline(%s, %s)", (key, charge),
                                 deadline))


def cancel(ledger: Ledger, key: str, deadline: Deadline) -> None:
    """Cancels pending intent `key`, whose idempotency key the gateway spent without
    charging (it answered an error, which it replays for that key from then on): the
    next debit below the threshold opens an intent with a fresh key. Not in the Rust
    design, whose in-process gateway never errs."""
    ledger.query("UPDATE charges SET status = 'cancelled' WHERE idempotency_key = %s "
                 "AND status IN ('pending', 'charging')", (key,), deadline)


def suspend(ledger: Ledger, account: int, deadline: Deadline) -> None:
    ledger.query("UPDATE accounts SET suspended = true WHERE id = %s", (account,), deadline)


def pending(ledger: Ledger, deadline: Deadline) -> list[tuple[str, int]]:
    """Every pending intent and its account, oldest first."""
    return ledger.query("SELECT idempotency_key, account FROM charges WHERE status IN ('pending', 'charging') "
                        "ORDER BY at", (), deadline)


def all_accounts(ledger: Ledger, deadline: Deadline) -> list[Versioned]:
    """Every account's balance and version."""
    rows = ledger.query("SELECT id, balance, version FROM accounts ORDER BY id", (), deadline)
    return [Versioned(*row) for row in rows]


def _versioned(row: tuple) -> Versioned:
    if row[0] is None:
        raise StoreError(UNKNOWN, "postgres: no such intent")
    return Versioned(*row)
