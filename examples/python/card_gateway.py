"""A client for faultline's card gateway (docs/protocol.md section 4), shaped like
Stripe's charges API.

`Gateway.charge()` returns `Captured` or `Declined`, or raises `GatewayError`:
`unavailable` when nothing was charged for certain (a `503`, or a refused
connection: the request was never sent), otherwise `unknown` (a `500`, a timeout, a
broken connection, a `409` for a key still being processed): the charge may have been
captured, and only `lookup(key)` can tell.

Every call copies the client operation's id (`Faultline-Op`) onto the request, so the
gateway can attribute the charge; charges made by `settle` carry none.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class Captured:
    charge: int  # the gateway's charge number (`ch_12` -> 12)


@dataclass(frozen=True)
class Declined:
    charge: int
    reason: str  # `card-declined` or `card-deactivated`


class GatewayError(Exception):
    """A charge or lookup that did not get a definite answer."""

    def __init__(self, kind: str, text: str, *, status: int | None = None, replayed=False):
        super().__init__(text)
        self.kind = kind  # "unavailable": nothing charged | "unknown": may be captured
        self.status = status  # the HTTP status, if the gateway answered
        self.replayed = replayed  # the gateway replayed the key's first answer

    @property
    def unavailable(self) -> bool:
        return self.kind == "unavailable"

    @property
    def finished(self) -> bool:
        """Whether the gateway is done with the key: it answered, and not `409` (still
        processing). Then a lookup finding nothing means nothing will be charged."""
        return self.status is not None and self.status != 409


def charge_number(charge_id: str) -> int:
    """`ch_12` -> 12: the number the ledger records in `charge_id`."""
    return int(charge_id.rpartition("_")[2])


class Gateway:
    def __init__(self, url: str):
        self._url = url
        # No proxy: the gateway is on loopback or the run's own network.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def charge(self, account: int, amount: int, key: str | None, *, op: int | None,
               timeout: float) -> Captured | Declined:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        if op is not None:
            headers["Faultline-Op"] = str(op)
        body = json.dumps({"account": account, "amount": amount}).encode()
        status, answer, replayed = self._send(
            urllib.request.Request(f"{self._url}/v1/charges", body, headers, method="POST"),
            timeout,
        )
        if status == 200 and answer.get("captured"):
            return Captured(charge_number(answer["id"]))
        error = answer.get("error") or {}
        if status == 402:
            return Declined(charge_number(error["charge"]), error.get("decline_code", "declined"))
        kind = "unavailable" if status == 503 else "unknown"
        text = f"gateway answered {status}: {error.get('message') or answer}"
        raise GatewayError(kind, text, status=status, replayed=replayed)

    def lookup(self, key: str, *, timeout: float) -> Captured | Declined | None:
        """What became of the charge made with `key`: `None` if nothing was charged."""
        query = urllib.parse.urlencode({"idempotency_key": key})
        request = urllib.request.Request(f"{self._url}/v1/charges?{query}")
        status, answer, _ = self._send(request, timeout)
        if status != 200:
            kind = "unavailable" if status == 503 else "unknown"
            raise GatewayError(kind, f"lookup of {key} answered {status}: {answer}", status=status)
        charges = answer.get("data") or []
        if not charges:
            return None
        charge = charges[0]
        if charge.get("status") == "succeeded":
            return Captured(charge_number(charge["id"]))
        return Declined(charge_number(charge["id"]), charge.get("failure_code") or "declined")

    def _send(self, request, timeout: float) -> tuple[int, dict, bool]:
        """The status, JSON body and replay flag of an answer."""
        try:
            with self._opener.open(request, timeout=timeout) as answer:
                status, raw, headers = answer.status, answer.read(), answer.headers
        except urllib.error.HTTPError as answer:
            status, raw, headers = answer.code, answer.read(), answer.headers
        except urllib.error.URLError as e:
            if isinstance(e.reason, ConnectionRefusedError):
                raise GatewayError("unavailable", f"gateway refused the connection: {e}") from e
            raise GatewayError("unknown", f"gateway: {e.reason}") from e
        except (socket.timeout, TimeoutError) as e:
            raise GatewayError("unknown", f"gateway: no answer within {timeout:.3f} s") from e
        except (OSError, http.client.HTTPException) as e:  # reset, closed, cut short
            raise GatewayError("unknown", f"gateway: {e}") from e
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"raw": raw[:200].decode(errors="replace")}
        replayed = (headers.get("Idempotent-Replayed") or "").lower() == "true"
        return status, body, replayed
