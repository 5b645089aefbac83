//! How a sequence of rules is run: to the first failure (the request path, [`FirstFailure`]), or
//! every rule with its own outcome (the operators' explanation of a token, [`EveryRule`]).
//!
//! The claim, time and scope rules are each written once, as one sequence generic over
//! [`Judge`] ([`crate::request::claims::judge`], [`crate::request::claims::judge_times`],
//! [`crate::request::scope::judge`]): the list an operator reads and the verdict a host gets come
//! from the same functions in the same order, so they cannot disagree. With [`FirstFailure`]
//! every `rule` call is the `?` it replaces and the not-applicable branches compile away.

use crate::refusal::{Checked, Refusal};

/// How a rule sequence is run.
pub trait Judge {
    /// True when every rule is to be told, false on the request path.
    const EVERY: bool;

    /// Told a rule's outcome. `Err` stops the sequence (the request path: the first failure
    /// decides); `Ok(None)` goes on without the rule's value (an explanation, after a failure).
    fn rule<T>(&mut self, rule: &'static str, outcome: Checked<T>) -> Checked<Option<T>>;

    /// Told a rule that does not apply to this token or configuration, and why.
    fn skip(&mut self, rule: &'static str, why: &'static str);
}

/// `after!(j, RULE, value, WHY, |v| check)`: a rule that needs `value` (an `Option`),
/// established by an earlier rule: judged by `check` when it was, else not applicable (`WHY`).
/// A macro, not a method taking a closure, so the check is always inlined on the request path;
/// `check` is an expression, not a closure body: a `return` or `?` in it would leave the rule
/// sequence itself and skip the rules after it, so it must have none.
macro_rules! after {
    ($j:expr, $rule:expr, $value:expr, $why:expr, |$v:pat_param| $check:expr) => {
        match $value {
            Some($v) => $j.rule($rule, $check),
            None => {
                $j.skip($rule, $why);
                Ok(None)
            }
        }
    };
}
pub(crate) use after;

/// The request path: the first failure decides, nothing is recorded.
pub struct FirstFailure;

impl Judge for FirstFailure {
    const EVERY: bool = false;

    #[inline(always)]
    fn rule<T>(&mut self, _: &'static str, outcome: Checked<T>) -> Checked<Option<T>> {
        outcome.map(Some)
    }

    #[inline(always)]
    fn skip(&mut self, _: &'static str, _: &'static str) {}
}

/// What one rule said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// The refusal the request path gives when this rule is the first to fail.
    Fail(Refusal),
    /// Why the rule does not apply (an earlier rule failed, or the configuration turns it off).
    NotApplicable(&'static str),
}

/// A rule of a step of the settled order, and its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judged {
    /// One of [`crate::request::STEPS`].
    pub step: &'static str,
    pub rule: &'static str,
    pub outcome: Outcome,
}

/// Every rule judged on its own and recorded, in the order the request path runs them; `step`
/// names the step the rules told next belong to.
#[derive(Debug)]
pub struct EveryRule {
    pub step: &'static str,
    pub judged: Vec<Judged>,
}

impl EveryRule {
    pub fn new(step: &'static str) -> Self {
        EveryRule { step, judged: Vec::new() }
    }
}

impl Judge for EveryRule {
    const EVERY: bool = true;

    fn rule<T>(&mut self, rule: &'static str, outcome: Checked<T>) -> Checked<Option<T>> {
        let (recorded, value) = match outcome {
            Ok(v) => (Outcome::Pass, Some(v)),
            Err(r) => (Outcome::Fail(r), None),
        };
        self.judged.push(Judged { step: self.step, rule, outcome: recorded });
        Ok(value)
    }

    fn skip(&mut self, rule: &'static str, why: &'static str) {
        self.judged.push(Judged { step: self.step, rule, outcome: Outcome::NotApplicable(why) });
    }
}
