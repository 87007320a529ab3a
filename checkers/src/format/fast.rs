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

/// Parses one line written by `write_op`, or `None` when it is not in that form.
pub(super) fn parse(line: &[u8]) -> Option<Op> {
    let mut c = Cursor { b: line, i: 0 };
    c.lit(b"{\"index\":")?;
    let index = c.u64()?;
    c.lit(b",\"time\":")?;
    let time = c.u64()?;
    c.lit(b",\"process\":")?;
    let process = c.process()?;
    c.lit(b",\"type\":")?;
    let kind = c.op_type()?;
    c.lit(b",\"f\":")?;
    let f = F::from_name(std::str::from_utf8(c.string()?).ok()?);
    let value = match c.lit(b",\"value\":") {
        Some(()) => c.value(&f)?,
        None => Value::Nil,
    };
    let error = match c.lit(b",\"error\":") {
        Some(()) => Some(c.owned_string()?),
        None => None,
    };
    c.lit(b"}")?;
    (c.i == line.len()).then_some(Op { index, time, process, kind, f, value, error })
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    /// Consumes `lit` if the input continues with it.
    fn lit(&mut self, lit: &[u8]) -> Option<()> {
        self.b[self.i..].starts_with(lit).then(|| self.i += lit.len())
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
        [
            (&b"\"invoke\""[..], OpType::Invoke),
            (b"\"ok\"", OpType::Ok),
            (b"\"fail\"", OpType::Fail),
            (b"\"info\"", OpType::Info),
        ]
        .into_iter()
        .find_map(|(name, kind)| self.lit(name).map(|()| kind))
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
    fn accounts(&mut self, key: &[u8]) -> Option<Vec<u32>> {
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
