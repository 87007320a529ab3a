//! A fast path for the lines faultline writes, several times faster than serde.
//!
//! It reads exactly the compact form [`write_op`](super::write_op) produces, keys in its
//! order: comparing each expected key as a prefix costs far less than scanning for it.
//! Values it reads: null (probe and settle invocations), integers, account operations,
//! charges (with the client operation they served) and probes, which are nearly every
//! line of a billing history. Any other line (opens, phases, final states, fault events,
//! whitespace, escapes, another key order...) returns `None`, and the caller
//! falls back to serde, which gives the same result or the error.

use crate::history::{
    AccountOp, Charge, ChargeAnswer, F, Observed, Op, OpType, Probe, Process, StoreStatus, Value,
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

    /// An operation's `f`, without allocating for the names faultline knows; the
    /// commonest are compared whole before any scanning.
    fn f(&mut self) -> Option<F> {
        if self.lit(b"\"debit\"").is_some() {
            return Some(F::Debit);
        }
        if self.lit(b"\"read\"").is_some() {
            return Some(F::Read);
        }
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

    /// A JSON natural number (no sign, no leading zero, no fraction or exponent),
    /// read eight digits at a time; one step for the usual number of under eight digits.
    fn u64(&mut self) -> Option<u64> {
        if let Some(chunk) = self.b[self.i..].first_chunk::<8>() {
            let word = u64::from_le_bytes(*chunk);
            let count = leading_digits(word);
            if count < 8 {
                let leading_zero = count > 1 && chunk[0] == b'0';
                let more = matches!(chunk[count], b'.' | b'e' | b'E');
                if count == 0 || leading_zero || more {
                    return None;
                }
                self.i += count;
                return Some(eight_digits(word, count));
            }
        }
        self.long_u64()
    }

    /// [`Cursor::u64`] for eight digits or more, or near the end of the input.
    fn long_u64(&mut self) -> Option<u64> {
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(chunk) = self.b[self.i..].first_chunk::<8>() {
            let word = u64::from_le_bytes(*chunk);
            let count = leading_digits(word);
            if count > 0 {
                n = n.checked_mul(POWERS_OF_TEN[count])?.checked_add(eight_digits(word, count))?;
                self.i += count;
            }
            if count < 8 {
                return self.natural(start, n);
            }
        }
        while let Some(&d @ b'0'..=b'9') = self.b.get(self.i) {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.i += 1;
        }
        self.natural(start, n)
    }

    /// `n`, read from `start` to here, if that is a whole JSON natural number.
    fn natural(&self, start: usize, n: u64) -> Option<u64> {
        let digits = self.i - start;
        let leading_zero = digits > 1 && self.b[start] == b'0';
        let more = matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E'));
        (digits > 0 && !leading_zero && !more).then_some(n)
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
            b"sentinel" => Some(Process::Sentinel),
            _ => None,
        }
    }

    fn op_type(&mut self) -> Option<OpType> {
        if self.lit(b"\"invoke\"").is_some() {
            Some(OpType::Invoke)
        } else if self.lit(b"\"ok\"").is_some() {
            Some(OpType::Ok)
        } else if self.lit(b"\"fail\"").is_some() {
            Some(OpType::Fail)
        } else {
            self.lit(b"\"info\"").map(|()| OpType::Info)
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

    /// `{"charge":9,"account":7,"amount":500,"key":"k","op":12,"answer":"lost"}`, key,
    /// op and answer optional.
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
        let op = match self.lit(b",\"op\":") {
            Some(()) => Some(self.u64()?),
            None => None,
        };
        let answer = match self.lit(b",\"answer\":") {
            Some(()) => Some(match self.string()? {
                b"captured" => ChargeAnswer::Captured,
                b"declined" => ChargeAnswer::Declined,
                b"error" => ChargeAnswer::Error,
                b"lost" => ChargeAnswer::Lost,
                b"unavailable" => ChargeAnswer::Unavailable,
                _ => return None,
            }),
            None => None,
        };
        self.lit(b"}")?;
        Some(Charge { charge, account, amount, key, op, answer })
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

/// 10 to the power of 0 to 8.
const POWERS_OF_TEN: [u64; 9] =
    [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

/// How many of the eight bytes of `word` (first byte lowest) are ASCII digits before the
/// first that is not.
fn leading_digits(word: u64) -> usize {
    const LOW: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    let digit_marks = (word & LOW) | ((word.wrapping_add(0x0606_0606_0606_0606) & LOW) >> 4);
    let not_digits = digit_marks ^ 0x3333_3333_3333_3333;
    (not_digits.trailing_zeros() / 8) as usize
}

/// The value of the first `count` (1 to 8) ASCII digits of `word` (first byte lowest):
/// the digits are moved to the top and zeros put before them, then all eight bytes are
/// combined pairwise (the SWAR method, as in simdjson).
fn eight_digits(word: u64, count: usize) -> u64 {
    let word = match count {
        8 => word,
        _ => {
            let shift = 8 * (8 - count as u32);
            (word << shift) | (0x3030_3030_3030_3030 >> (64 - shift))
        }
    };
    let word = (word & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(2561) >> 8;
    let word = (word & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601) >> 16;
    (word & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001) >> 32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn natural(text: &str) -> Option<u64> {
        let padded = format!("{text}}}        ");
        let mut c = Cursor { b: padded.as_bytes(), i: 0 };
        c.u64().filter(|_| c.b[c.i] == b'}')
    }

    #[test]
    fn naturals_read_eight_digits_at_a_time_match_the_standard_parser() {
        let mut samples: Vec<String> = (0..20_000u64).map(|n| n.to_string()).collect();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push((x >> (x % 64)).to_string());
        }
        samples.extend(
            ["18446744073709551615", "18446744073709551616", "99999999999999999999"]
                .map(String::from),
        );
        for text in &samples {
            assert_eq!(natural(text), text.parse::<u64>().ok(), "{text}");
        }
        for bad in ["", "01", "00", "1.5", "2e3", "-1", "x"] {
            assert_eq!(natural(bad), None, "{bad}");
        }
        for text in ["0", "7", "1234567", "12345678901"] {
            let mut c = Cursor { b: text.as_bytes(), i: 0 };
            assert_eq!(c.u64(), text.parse().ok(), "{text} at the end of the input");
        }
    }
}
