use super::*;
use proptest::prelude::*;

type Op = LinOp<RegInput, RegOutput>;

fn op(client: u64, call: u64, ret: u64, input: RegInput, output: RegOutput) -> Op {
    LinOp { client, call, ret: Some(ret), input, output: Some(output) }
}

fn info(client: u64, call: u64, input: RegInput) -> Op {
    LinOp { client, call, ret: None, input, output: None }
}

fn w(client: u64, call: u64, ret: u64, v: i64) -> Op {
    op(client, call, ret, RegInput::Write(v), RegOutput::Ok)
}

fn r(client: u64, call: u64, ret: u64, v: Option<i64>) -> Op {
    op(client, call, ret, RegInput::Read, RegOutput::Value(v))
}

fn cas(client: u64, call: u64, ret: u64, expect: i64, new: i64, ok: bool) -> Op {
    let out = if ok { RegOutput::Ok } else { RegOutput::Failed };
    op(client, call, ret, RegInput::Cas { expect, new }, out)
}

fn lin(ops: &[Op]) -> Outcome {
    check(&CasRegister::default(), ops, Budget::UNLIMITED)
}

#[test]
fn empty_and_sequential_histories() {
    assert_eq!(lin(&[]), Outcome::Linearizable);
    assert_eq!(lin(&[r(0, 0, 1, None), w(0, 2, 3, 1), r(0, 4, 5, Some(1))]), Outcome::Linearizable);
}

#[test]
fn stale_read_after_a_completed_write_is_not_linearizable() {
    let ops = [w(0, 0, 10, 1), w(0, 20, 30, 2), r(1, 40, 50, Some(1))];
    assert_eq!(lin(&ops), Outcome::NotLinearizable { longest_prefix: vec![0, 1], stuck: 2 });
    // Reading nil after a completed write, too.
    let ops = [w(0, 0, 10, 1), r(1, 20, 30, None)];
    assert_eq!(lin(&ops), Outcome::NotLinearizable { longest_prefix: vec![0], stuck: 1 });
}

#[test]
fn concurrent_writes_may_be_seen_in_either_order() {
    for (a, b) in [(1, 2), (2, 1)] {
        let ops = [w(0, 0, 10, 1), w(1, 0, 10, 2), r(2, 20, 30, Some(a)), r(2, 31, 40, Some(a))];
        assert_eq!(lin(&ops), Outcome::Linearizable);
        // A read concurrent with both writes may see nil, either value; once the first
        // read saw `b` overwritten by `a`... but two sequential reads may not flip.
        let ops = [w(0, 0, 10, 1), w(1, 0, 10, 2), r(2, 20, 30, Some(a)), r(2, 31, 40, Some(b))];
        assert!(matches!(lin(&ops), Outcome::NotLinearizable { stuck: 3, .. }), "{a} then {b}");
    }
    let ops = [w(0, 0, 10, 1), r(1, 1, 2, None), r(2, 3, 4, Some(1)), r(2, 5, 6, Some(1))];
    assert_eq!(lin(&ops), Outcome::Linearizable);
}

#[test]
fn compare_and_set_success_and_failure() {
    // Succeeds on the value written, fails on another.
    let ops =
        [w(0, 0, 1, 1), cas(0, 2, 3, 1, 5, true), cas(1, 4, 5, 1, 6, false), r(1, 6, 7, Some(5))];
    assert_eq!(lin(&ops), Outcome::Linearizable);
    // A successful cas against a value that is not there.
    let ops = [w(0, 0, 1, 1), cas(0, 2, 3, 2, 5, true)];
    assert_eq!(lin(&ops), Outcome::NotLinearizable { longest_prefix: vec![0], stuck: 1 });
    // A failed cas against the value that is there.
    let ops = [w(0, 0, 1, 1), cas(0, 2, 3, 1, 5, false)];
    assert!(matches!(lin(&ops), Outcome::NotLinearizable { stuck: 1, .. }));
    // Two concurrent cas from 1 cannot both succeed.
    let ops = [w(0, 0, 1, 1), cas(0, 2, 10, 1, 5, true), cas(1, 2, 10, 1, 6, true)];
    assert!(matches!(lin(&ops), Outcome::NotLinearizable { .. }));
    // ... but one may fail, and a later read tells which one won.
    let ops = [
        w(0, 0, 1, 1),
        cas(0, 2, 10, 1, 5, false),
        cas(1, 2, 10, 1, 6, true),
        r(2, 11, 12, Some(6)),
    ];
    assert_eq!(lin(&ops), Outcome::Linearizable);
    // The plain register does not know cas.
    let ops = [cas(0, 0, 1, 1, 5, false)];
    assert!(matches!(
        check(&Register::default(), &ops, Budget::UNLIMITED),
        Outcome::NotLinearizable { .. }
    ));
    assert_eq!(check(&CasRegister::default(), &ops, Budget::UNLIMITED), Outcome::Linearizable);
}

#[test]
fn an_info_write_may_or_may_not_have_happened() {
    let x = info(0, 0, RegInput::Write(1));
    // Seen, never seen, or seen late: all fine.
    assert_eq!(lin(&[x.clone(), r(1, 10, 20, Some(1))]), Outcome::Linearizable);
    assert_eq!(lin(&[x.clone(), r(1, 10, 20, None)]), Outcome::Linearizable);
    assert_eq!(lin(&[x.clone(), r(1, 10, 20, None), r(1, 30, 40, Some(1))]), Outcome::Linearizable);
    // But not seen before its call, and not un-happened once seen.
    let late = info(0, 30, RegInput::Write(1));
    assert!(matches!(lin(&[late, r(1, 10, 20, Some(1))]), Outcome::NotLinearizable { .. }));
    let flip = [x, r(1, 10, 20, Some(1)), r(1, 30, 40, None)];
    assert_eq!(lin(&flip), Outcome::NotLinearizable { longest_prefix: vec![0, 1], stuck: 2 });
}

#[test]
fn an_info_op_that_cannot_step_is_dropped() {
    // An info cas whose known output is impossible never took effect; the plain register
    // cannot step a cas at all. Either way the rest of the history stands.
    let ops =
        [LinOp { output: Some(RegOutput::Ok), ..info(0, 0, RegInput::Cas { expect: 9, new: 1 }) }];
    assert_eq!(lin(&ops), Outcome::Linearizable);
    let ops = [info(0, 0, RegInput::Cas { expect: 9, new: 1 }), r(1, 1, 2, None)];
    assert_eq!(check(&Register::default(), &ops, Budget::UNLIMITED), Outcome::Linearizable);
}

#[test]
fn the_budget_yields_unknown() {
    let ops: Vec<Op> =
        (0..12).map(|c| w(c, 0, 100, c as i64)).chain([r(0, 200, 201, Some(-1))]).collect();
    let tight = Budget { max_steps: 50, ..Budget::UNLIMITED };
    assert!(matches!(check(&CasRegister::default(), &ops, tight), Outcome::Unknown(_)));
    let tight = Budget { max_states: 10, ..Budget::UNLIMITED };
    assert!(matches!(check(&CasRegister::default(), &ops, tight), Outcome::Unknown(_)));
    let tight = Budget { max_memory: 4096, ..Budget::UNLIMITED };
    let Outcome::Unknown(why) = check(&CasRegister::default(), &ops, tight) else { panic!() };
    assert!(why.starts_with("gave up after memoising") && why.ends_with("in 0 MiB"), "{why}");
    assert!(matches!(lin(&ops), Outcome::NotLinearizable { stuck: 12, .. }));
    let backwards = [w(0, 10, 5, 1)];
    assert!(matches!(lin(&backwards), Outcome::Unknown(_)));
}

#[test]
fn per_key_partitioning() {
    let ops = [
        ("a", w(0, 0, 10, 1)),
        ("b", w(1, 0, 10, 2)),
        ("a", r(2, 20, 30, Some(1))),
        ("b", r(2, 31, 40, Some(1))), // b never held 1
    ];
    let (ids, sub) = &partition(&ops)["b"];
    assert_eq!(ids, &[1, 3]);
    assert_eq!(sub.len(), 2);
    let outcomes = check_per_key(&CasRegister::default(), &ops, Budget::default());
    assert_eq!(outcomes["a"], Outcome::Linearizable);
    assert_eq!(outcomes["b"], Outcome::NotLinearizable { longest_prefix: vec![1], stuck: 3 });
    // Keys are independent: a's write says nothing about b, though one register would.
    let ops = [("a", w(0, 0, 10, 1)), ("b", r(1, 20, 30, None))];
    let outcomes = check_per_key(&CasRegister::default(), &ops, Budget::default());
    assert!(outcomes.values().all(|o| *o == Outcome::Linearizable));
    assert!(matches!(lin(&ops.map(|(_, o)| o)), Outcome::NotLinearizable { .. }));
}

#[test]
fn long_histories_are_decided() {
    // 70 rounds of two concurrent writes and a read that tells which came last: 210
    // operations, so the linearized set spans four words.
    let rounds = |last_read: Option<i64>| -> Vec<Op> {
        let mut ops = Vec::new();
        for k in 0..70u64 {
            let (t, v) = (k * 100, 2 * k as i64);
            ops.extend([w(0, t, t + 10, v), w(1, t, t + 10, v + 1)]);
            ops.push(r(2, t + 20, t + 30, Some(if k % 2 == 0 { v } else { v + 1 })));
        }
        if let Some(v) = last_read {
            ops.push(r(2, 10_000, 10_001, Some(v)));
        }
        ops
    };
    assert_eq!(lin(&rounds(None)), Outcome::Linearizable);
    assert_eq!(lin(&rounds(Some(139))), Outcome::Linearizable);
    let stale = rounds(Some(0));
    assert!(matches!(lin(&stale), Outcome::NotLinearizable { stuck: 210, .. }));
}

/// Every subset of the info operations, every order consistent with real time.
fn brute_force<M: Model>(model: &M, ops: &[LinOp<M::Input, M::Output>]) -> bool {
    let infos: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].ret.is_none()).collect();
    (0..1u32 << infos.len()).any(|mask| {
        let included: Vec<bool> = (0..ops.len())
            .map(|i| match infos.iter().position(|&j| j == i) {
                Some(k) => mask & (1 << k) != 0,
                None => true,
            })
            .collect();
        let mut placed = vec![false; ops.len()];
        orders(model, ops, &included, &mut placed, &model.init())
    })
}

fn orders<M: Model>(
    model: &M,
    ops: &[LinOp<M::Input, M::Output>],
    included: &[bool],
    placed: &mut [bool],
    state: &M::State,
) -> bool {
    if (0..ops.len()).all(|i| !included[i] || placed[i]) {
        return true;
    }
    for b in 0..ops.len() {
        if !included[b] || placed[b] {
            continue;
        }
        // Everything that returned before b was called must already be placed.
        let ready =
            (0..ops.len()).all(|a| placed[a] || ops[a].ret.is_none_or(|r| r >= ops[b].call));
        if !ready {
            continue;
        }
        if let Some(next) = model.step(state, &ops[b].input, ops[b].output.as_ref()) {
            placed[b] = true;
            let found = orders(model, ops, included, placed, &next);
            placed[b] = false;
            if found {
                return true;
            }
        }
    }
    false
}

/// A small random history: each client issues operations one after another, and an info
/// operation is its last.
fn history() -> impl Strategy<Value = Vec<Op>> {
    let input = prop_oneof![
        Just(RegInput::Read),
        (0..3i64).prop_map(RegInput::Write),
        (0..3i64, 0..3i64).prop_map(|(expect, new)| RegInput::Cas { expect, new }),
    ];
    let step =
        (0..3u64, 0..4u64, 0..6u64, prop::bool::weighted(0.2), input, 0..4i64, any::<bool>());
    (prop::collection::vec(step, 1..=6), 2..=3u64).prop_map(|(steps, clients)| {
        let mut clock = vec![0u64; clients as usize];
        let mut crashed = vec![false; clients as usize];
        let mut ops = Vec::new();
        for (c, gap, len, is_info, input, v, ok) in steps {
            let c = c % clients;
            if crashed[c as usize] {
                continue;
            }
            let call = clock[c as usize] + gap;
            let ret = call + len;
            clock[c as usize] = ret + 1;
            let output = match input {
                RegInput::Read => RegOutput::Value((v < 3).then_some(v)),
                RegInput::Write(_) => RegOutput::Ok,
                RegInput::Cas { .. } if ok => RegOutput::Ok,
                RegInput::Cas { .. } => RegOutput::Failed,
            };
            if is_info {
                crashed[c as usize] = true;
                ops.push(LinOp { client: c, call, ret: None, input, output: None });
            } else {
                ops.push(LinOp { client: c, call, ret: Some(ret), input, output: Some(output) });
            }
        }
        ops
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn agrees_with_brute_force(ops in history()) {
        for register in [false, true] {
            let (outcome, expected) = if register {
                (check(&Register::default(), &ops, Budget::UNLIMITED), brute_force(&Register::default(), &ops))
            } else {
                (check(&CasRegister::default(), &ops, Budget::UNLIMITED), brute_force(&CasRegister::default(), &ops))
            };
            match outcome {
                Outcome::Linearizable => prop_assert!(expected),
                Outcome::NotLinearizable { longest_prefix, stuck } => {
                    prop_assert!(!expected);
                    prop_assert!(!longest_prefix.contains(&stuck));
                    prop_assert!(ops[stuck].ret.is_some());
                    // The prefix is a sequential run of the model, in real-time order.
                    let mut state = Some(None::<i64>);
                    for (k, &i) in longest_prefix.iter().enumerate() {
                        let s = state.expect("every step of the prefix succeeds");
                        state = if register {
                            Register::default().step(&s, &ops[i].input, ops[i].output.as_ref())
                        } else {
                            CasRegister::default().step(&s, &ops[i].input, ops[i].output.as_ref())
                        };
                        for &later in &longest_prefix[k + 1..] {
                            prop_assert!(ops[later].ret.is_none_or(|r| r >= ops[i].call));
                        }
                    }
                    prop_assert!(state.is_some());
                }
                Outcome::Unknown(reason) => prop_assert!(false, "unknown: {}", reason),
            }
        }
    }
}
