//! A fast path for the lines faultline writes, several times faster than serde.
//!
//! It reads exactly the compact form [`write_op`](super::write_op) produces, keys in its
//! order: comparing each expected key as a prefix costs far less than scanning for it.
//! Values it reads: null, integers, account operations, charges and probes, which are
//! nearly every line of a billing history. Any other line (opens, final states, fault
//! events, whitespace, escapes, another key order...) returns `None`, and the caller
//! falls back to serde, which gives the same result or the error.

use crate::history::{
    AccountOp, Charge, F, Observed, Op, OpType, Probe, Process, StoreStatus, Value,
};

/// Parses one line written by `write_op` into `op`, reusing its error string; false
/// (with `op` left in any state) when the line is not in that form.
pub(super) fn parse_into(line: &[u8], op: &mut Op) -> bool {
    let mut c = Cursor { b: line, i: 0 };
    parse(&mut c, op).is_some() && c.i == line.len()
}

/// Parses the line at the start of `input` into `op`, as [`parse_into`], when that line
/// ends with a newline; returns its length, newline included. This spares looking for
/// the newline first.
pub(super) fn parse_line(input: &[u8], op: &mut Op) -> Option<usize> {
    let mut c = Cursor { b: input, i: 0 };
    parse(&mut c, op)?;
    c.lit(b"\r");
    c.lit(b"\n")?;
    Some(c.i)
}

fn parse(c: &mut Cursor<'_>, op: &mut Op) -> Option<()> {
    c.lit(b"{\"index\":")?;
    op.index = c.u64()?;
    c.lit(b",\"time\":")?;
    op.time = c.u64()?;
    c.lit(b",\"process\":")?;
    op.process = c.process()?;
    c.lit(b",\"type\":")?;
    op.kind = c.op_type()?;
    c.lit(b",\"f\":")?;
    op.f = c.f()?;
    op.value = match c.lit(b",\"value\":") {
        Some(()) => c.value(&op.f)?,
        None => Value::Nil,
    };
    match c.lit(b",\"error\":") {
        Some(()) => c.string_into(&mut op.error)?,
        None => op.error = None,
    }
    c.lit(b"}")
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    /// Consumes `lit` if the input continues with it (a fixed-size comparison, which
    /// compiles to a few word compares rather than a call to `memcmp`).
    fn lit<const N: usize>(&mut self, lit: &[u8; N]) -> Option<()> {
        (self.b[self.i..].first_chunk::<N>() == Some(lit)).then(|| self.i += N)
    }

    /// A string without escapes or control characters.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.lit(b"\"")?;
        let start = self.i;
        let len = self.b[start..].iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        self.i = start + len;
        self.lit(b"\"")?;
        Some(&self.b[start..start + len])
    }

    fn owned_string(&mut self) -> Option<String> {
        std::str::from_utf8(self.string()?).ok().map(str::to_owned)
    }

    /// A string into `slot`, reusing the string it holds.
    fn string_into(&mut self, slot: &mut Option<String>) -> Option<()> {
        let text = std::str::from_utf8(self.string()?).ok()?;
        let s = slot.get_or_insert_with(String::new);
        s.clear();
        s.push_str(text);
        Some(())
    }

    /// An operation's `f`, without allocating for the names faultline knows.
    fn f(&mut self) -> Option<F> {
        Some(match self.string()? {
            b"debit" => F::Debit,
            b"payment" => F::Payment,
            b"read" => F::Read,
            b"charge" => F::Charge,
            b"probe" => F::Probe,
            b"add" => F::Add,
            b"generate" => F::Generate,
            other => F::from_name(std::str::from_utf8(other).ok()?),
        })
    }

    fn u64(&mut self) -> Option<u64> {
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(&d @ b'0'..=b'9') = self.b.get(self.i) {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.i += 1;
        }
        let plain = self.i > start && !matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E'));
        plain.then_some(n)
    }

    fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.u64()?).ok()
    }

    fn i64(&mut self) -> Option<i64> {
        if self.lit(b"-").is_some() {
            return 0i64.checked_sub_unsigned(self.u64()?);
        }
        i64::try_from(self.u64()?).ok()
    }

    fn null(&mut self) -> bool {
        self.lit(b"null").is_some()
    }

    fn process(&mut self) -> Option<Process> {
        if self.b.get(self.i) != Some(&b'"') {
            return self.u32().map(Process::Client);
        }
        match self.string()? {
            b"nemesis" => Some(Process::Nemesis),
            b"gateway" => Some(Process::Gateway),
            b"monitor" => Some(Process::Monitor),
            b"harness" => Some(Process::Harness),
            _ => None,
        }
    }

    fn op_type(&mut self) -> Option<OpType> {
        match self.string()? {
            b"invoke" => Some(OpType::Invoke),
            b"ok" => Some(OpType::Ok),
            b"fail" => Some(OpType::Fail),
            b"info" => Some(OpType::Info),
            _ => None,
        }
    }

    fn value(&mut self, f: &F) -> Option<Value> {
        if self.null() {
            return Some(Value::Nil);
        }
        match (self.b.get(self.i)?, f) {
            (b'-' | b'0'..=b'9', _) => self.i64().map(Value::Int),
            (b'{', F::Debit | F::Payment | F::Read | F::CardDeactivated) => {
                self.account_op().map(Value::Account)
            }
            (b'{', F::Charge) => self.charge().map(Value::Charge),
            (b'{', F::Probe) => self.probe().map(Value::Probe),
            _ => None,
        }
    }

    /// `{"account":7,"amount":3,"balance":497}`, amount and balance optional.
    fn account_op(&mut self) -> Option<AccountOp> {
        self.lit(b"{\"account\":")?;
        let account = self.u32()?;
        let amount = match self.lit(b",\"amount\":") {
            Some(()) if self.null() => None,
            Some(()) => Some(self.i64()?),
            None => None,
        };
        let balance = match self.lit(b",\"balance\":") {
            Some(()) if self.null() => Some(Observed::Missing),
            Some(()) => Some(Observed::Balance(self.i64()?)),
            None => None,
        };
        self.lit(b"}")?;
        Some(AccountOp { account, amount, balance })
    }

    /// `{"charge":9,"account":7,"amount":500,"key":"k"}`, key optional.
    fn charge(&mut self) -> Option<Charge> {
        self.lit(b"{\"charge\":")?;
        let charge = self.u64()?;
        self.lit(b",\"account\":")?;
        let account = self.u32()?;
        self.lit(b",\"amount\":")?;
        let amount = self.i64()?;
        let key = match self.lit(b",\"key\":") {
            Some(()) => Some(self.owned_string()?),
            None => None,
        };
        self.lit(b"}")?;
        Some(Charge { charge, account, amount, key })
    }

    /// `{"store":"healthy","missing":[1,2],"restored":[3]}`, lists optional.
    fn probe(&mut self) -> Option<Probe> {
        self.lit(b"{\"store\":")?;
        let store = match self.string()? {
            b"healthy" => StoreStatus::Healthy,
            b"read-only" => StoreStatus::ReadOnly,
            b"loading" => StoreStatus::Loading,
            b"unreachable" => StoreStatus::Unreachable,
            b"error" => StoreStatus::Error,
            _ => return None,
        };
        let missing = self.accounts(b",\"missing\":[")?;
        let restored = self.accounts(b",\"restored\":[")?;
        self.lit(b"}")?;
        Some(Probe { store, missing, restored })
    }

    /// An optional non-empty list of account ids after `key`.
    fn accounts<const N: usize>(&mut self, key: &[u8; N]) -> Option<Vec<u32>> {
        let mut ids = Vec::new();
        if self.lit(key).is_none() {
            return Some(ids);
        }
        loop {
            ids.push(self.u32()?);
            if self.lit(b"]").is_some() {
                return Some(ids);
            }
            self.lit(b",")?;
        }
    }
}
