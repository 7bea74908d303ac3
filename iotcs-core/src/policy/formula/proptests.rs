//! Property tests: random expression trees are printed as text, parsed and
//! evaluated, and the result must equal that of the small reference
//! evaluator below, written from the language's description (not from the
//! parser). Also: no text makes the parser or evaluator panic.

use proptest::prelude::*;

use super::*;

/// The reference's own tree.
#[derive(Clone, Debug)]
enum R {
    Num(f64),
    Text(String),
    Attr(&'static str, bool),
    Not(Box<R>),
    Neg(Box<R>),
    Bin(&'static str, Box<R>, Box<R>),
    Tern(Box<R>, Box<R>, Box<R>),
    Case(bool, Box<R>),
}

const OPS: [&str; 14] = [
    "||", "&&", "=", "!=", "<", "<=", ">", ">=", "LIKE", "+", "-", "*", "/", "%",
];

fn precedence(op: &str) -> u8 {
    match op {
        "||" => 1,
        "&&" => 2,
        "=" | "!=" => 3,
        "<" | "<=" | ">" | ">=" | "LIKE" => 4,
        "+" | "-" => 5,
        _ => 6,
    }
}

fn leaf() -> impl Strategy<Value = R> {
    prop_oneof![
        (0u32..20).prop_map(|n| R::Num(f64::from(n))),
        (0u32..400).prop_map(|n| R::Num(f64::from(n) / 8.0)),
        "[ab%_1]{0,3}".prop_map(R::Text),
        (
            prop::sample::select(vec!["x", "y", "s", "b", "none"]),
            any::<bool>()
        )
            .prop_map(|(name, last)| R::Attr(name, last)),
    ]
}

fn tree() -> impl Strategy<Value = R> {
    leaf().prop_recursive(6, 48, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| R::Not(Box::new(e))),
            inner.clone().prop_map(|e| R::Neg(Box::new(e))),
            (
                prop::sample::select(OPS.to_vec()),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(op, a, b)| R::Bin(op, Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(|(c, a, b)| R::Tern(
                Box::new(c),
                Box::new(a),
                Box::new(b)
            )),
            (any::<bool>(), inner).prop_map(|(lower, e)| R::Case(lower, Box::new(e))),
        ]
    })
}

/// Prints with as few parentheses as precedence allows, so that the
/// parser's precedence and associativity are under test too.
fn print(r: &R) -> String {
    match r {
        R::Num(n) => format!("{n}"),
        R::Text(s) => format!("'{s}'"),
        R::Attr(name, false) => format!("$({name})"),
        R::Attr(name, true) => format!("$$({name})"),
        R::Not(e) => format!("!{}", operand(e)),
        R::Neg(e) => format!("- {}", operand(e)),
        R::Case(lower, e) => {
            format!("{}({})", if *lower { "LOWER" } else { "upper" }, print(e))
        }
        R::Tern(c, a, b) => {
            let c = match **c {
                R::Tern(..) => format!("({})", print(c)),
                _ => print(c),
            };
            format!("{c} ? {} : {}", print(a), print(b))
        }
        R::Bin(op, a, b) => {
            let p = precedence(op);
            let left = match &**a {
                R::Bin(inner, ..) if precedence(inner) >= p => print(a),
                R::Tern(..) | R::Bin(..) => format!("({})", print(a)),
                _ => print(a),
            };
            let right = match &**b {
                R::Bin(inner, ..) if precedence(inner) > p => print(b),
                R::Tern(..) | R::Bin(..) => format!("({})", print(b)),
                _ => print(b),
            };
            format!("{left} {op} {right}")
        }
    }
}

/// A unary operator's operand: parenthesised unless it is a leaf or unary.
fn operand(e: &R) -> String {
    match e {
        R::Bin(..) | R::Tern(..) => format!("({})", print(e)),
        _ => print(e),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum V {
    N(f64),
    T(String),
}

fn attr(name: &str, last: bool) -> Option<Value> {
    match (name, last) {
        ("x", false) => Some(Value::Number(2.5)),
        ("x", true) => Some(Value::Integer(-3)),
        ("y", _) => Some(Value::Integer(0)),
        ("s", _) => Some(Value::from("a1")),
        ("b", false) => None,
        ("b", true) => Some(Value::Boolean(true)),
        _ => None,
    }
}

fn source(name: &str, lookup: Lookup) -> Option<Value> {
    attr(name, lookup == Lookup::LastKnown)
}

fn truthy(v: &V) -> bool {
    match v {
        V::N(n) => *n != 0.0 && !n.is_nan() && !n.is_infinite(),
        V::T(s) => !s.is_empty(),
    }
}

fn text_of(v: &V) -> String {
    match v {
        V::T(s) => s.clone(),
        V::N(n) if *n == 0.0 => "0".into(),
        V::N(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
        V::N(n) => format!("{n}"),
    }
}

fn num_of(v: &V) -> Option<f64> {
    match v {
        V::N(n) => Some(*n),
        V::T(s) => {
            let t = s.trim();
            let letters = t.chars().any(|c| c.is_alphabetic() && !"eE".contains(c));
            if t.is_empty() || letters {
                None
            } else {
                t.parse().ok()
            }
        }
    }
}

fn like(t: &[char], p: &[char]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some(('%', rest)) => (0..=t.len()).any(|i| like(&t[i..], rest)),
        Some((c, rest)) => !t.is_empty() && (*c == '_' || *c == t[0]) && like(&t[1..], rest),
    }
}

fn bool_v(b: bool) -> V {
    V::N(if b { 1.0 } else { 0.0 })
}

/// The reference evaluator; `None` is an evaluation error.
fn reference(r: &R) -> Option<V> {
    Some(match r {
        R::Num(n) => V::N(*n),
        R::Text(s) => V::T(s.clone()),
        R::Attr(name, last) => {
            let v = if *last {
                attr(name, true)
            } else {
                attr(name, false).or(attr(name, true))
            };
            match v? {
                Value::Number(n) => V::N(n),
                Value::Integer(i) => V::N(i as f64),
                Value::Boolean(b) => bool_v(b),
                Value::String(s) => V::T(s),
                other => unreachable!("{other:?}"),
            }
        }
        R::Not(e) => bool_v(!truthy(&reference(e)?)),
        R::Neg(e) => V::N(-num_of(&reference(e)?)?),
        R::Case(lower, e) => {
            let t = text_of(&reference(e)?);
            V::T(if *lower {
                t.to_lowercase()
            } else {
                t.to_uppercase()
            })
        }
        R::Tern(c, a, b) => {
            if truthy(&reference(c)?) {
                reference(a)?
            } else {
                reference(b)?
            }
        }
        R::Bin("&&", a, b) => bool_v(truthy(&reference(a)?) && truthy(&reference(b)?)),
        R::Bin("||", a, b) => bool_v(truthy(&reference(a)?) || truthy(&reference(b)?)),
        R::Bin(op, a, b) => {
            let (a, b) = (reference(a)?, reference(b)?);
            match *op {
                "+" => match (&a, &b) {
                    (V::N(x), V::N(y)) => V::N(x + y),
                    _ => V::T(text_of(&a) + &text_of(&b)),
                },
                "-" => V::N(num_of(&a)? - num_of(&b)?),
                "*" => V::N(num_of(&a)? * num_of(&b)?),
                "/" => V::N(num_of(&a)? / num_of(&b)?),
                "%" => V::N(num_of(&a)? % num_of(&b)?),
                "LIKE" => {
                    let t: Vec<char> = text_of(&a).chars().collect();
                    let p: Vec<char> = text_of(&b).chars().collect();
                    bool_v(like(&t, &p))
                }
                cmp => {
                    let both_numbers = match (&a, &b) {
                        (V::T(_), V::T(_)) => None,
                        _ => num_of(&a).zip(num_of(&b)),
                    };
                    let ord = match both_numbers {
                        Some((x, y)) => x.partial_cmp(&y),
                        None => Some(text_of(&a).cmp(&text_of(&b))),
                    };
                    use std::cmp::Ordering::*;
                    bool_v(match cmp {
                        "=" => ord == Some(Equal),
                        "!=" => ord != Some(Equal),
                        "<" => ord == Some(Less),
                        "<=" => matches!(ord, Some(Less | Equal)),
                        ">" => ord == Some(Greater),
                        ">=" => matches!(ord, Some(Greater | Equal)),
                        other => unreachable!("{other}"),
                    })
                }
            }
        }
    })
}

fn same(ours: &FormulaValue, theirs: &V) -> bool {
    match (ours, theirs) {
        (FormulaValue::Number(a), V::N(b)) => a == b || (a.is_nan() && b.is_nan()),
        (FormulaValue::Text(a), V::T(b)) => a == b,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn formulas_evaluate_as_the_reference_does(tree in tree()) {
        let text = print(&tree);
        let formula = Formula::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        let ours = formula.evaluate(&source).ok();
        let theirs = reference(&tree);
        match (&ours, &theirs) {
            (Some(a), Some(b)) => prop_assert!(same(a, b), "{}: ours {:?}, reference {:?}", text, a, b),
            (None, None) => {}
            _ => prop_assert!(false, "{}: ours {:?}, reference {:?}", text, ours, theirs),
        }
    }

    #[test]
    fn any_text_parses_or_fails_cleanly(text in "[$()'\" 0-9a-zA-Z.!=<>&|?:%*/+_-]{0,40}") {
        if let Ok(formula) = Formula::parse(&text) {
            let _ = formula.evaluate(&source);
        }
    }

    #[test]
    fn like_agrees_with_backtracking(t in "[ab]{0,8}", p in "[ab%_]{0,6}") {
        let tc: Vec<char> = t.chars().collect();
        let pc: Vec<char> = p.chars().collect();
        prop_assert_eq!(eval::like(&t, &p), like(&tc, &pc));
    }
}
