//! One test per construct and per error of the formula language.

use super::*;
use crate::Error;

fn source(name: &str, lookup: Lookup) -> Option<Value> {
    match (name, lookup) {
        ("temp", Lookup::Current) => Some(Value::Number(21.5)),
        ("temp", Lookup::LastKnown) => Some(Value::Number(20.0)),
        ("count", _) => Some(Value::Integer(7)),
        ("on", _) => Some(Value::Boolean(true)),
        ("room", Lookup::LastKnown) => Some(Value::from("Lab-2")),
        ("when", _) => Some(Value::DateTime(1_000)),
        ("label", _) => Some(Value::from("12.5")),
        _ => None,
    }
}

#[track_caller]
fn eval(text: &str) -> FormulaValue {
    Formula::parse(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .evaluate(&source)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[track_caller]
fn num(text: &str) -> f64 {
    match eval(text) {
        FormulaValue::Number(n) => n,
        other => panic!("{text} gave {other:?}"),
    }
}

#[track_caller]
fn text(text: &str) -> String {
    match eval(text) {
        FormulaValue::Text(s) => s,
        other => panic!("{text} gave {other:?}"),
    }
}

#[track_caller]
fn parse_error(text: &str) -> (usize, String) {
    match Formula::parse(text) {
        Err(e @ Error::Policy { .. }) => {
            let Error::Policy { detail, .. } = &e else {
                unreachable!()
            };
            (detail.position().expect("a position"), e.to_string())
        }
        other => panic!("{text}: {other:?}"),
    }
}

#[test]
fn literals() {
    assert_eq!(num("42"), 42.0);
    assert_eq!(num("1.5e2"), 150.0);
    assert_eq!(text(r"'it\'s'"), "it's");
    assert_eq!(text(r#""say \"hi\"""#), "say \"hi\"");
}

#[test]
fn references_fall_back_to_the_last_known_value() {
    assert_eq!(num("$(temp)"), 21.5);
    assert_eq!(num("$$(temp)"), 20.0);
    assert_eq!(text("$(room)"), "Lab-2");
    assert_eq!(num("$(on)"), 1.0);
    assert_eq!(num("$(when)"), 1000.0);
    assert_eq!(num("$( count )"), 7.0);
}

#[test]
fn arithmetic_with_precedence() {
    assert_eq!(num("1 + 2 * 3"), 7.0);
    assert_eq!(num("(1 + 2) * 3"), 9.0);
    assert_eq!(num("10 - 4 - 3"), 3.0);
    assert_eq!(num("7 % 4"), 3.0);
    assert_eq!(num("-7 % 4"), -3.0);
    assert_eq!(num("8 / 2 / 2"), 2.0);
    assert_eq!(num("-$(count) + +3"), -4.0);
    assert!(num("1 / 0").is_infinite());
    assert!(num("0 % 0").is_nan());
    assert_eq!(num("$(label) * 2"), 25.0);
}

#[test]
fn plus_joins_text() {
    assert_eq!(text("'t=' + $(temp)"), "t=21.5");
    assert_eq!(text("$(count) + 'x'"), "7x");
    assert_eq!(text("'n' + 3.0"), "n3");
}

#[test]
fn comparisons_give_one_or_zero() {
    for (formula, expected) in [
        ("1 = 1", 1.0),
        ("1 == 2", 0.0),
        ("1 != 2", 1.0),
        ("1 <> 1", 0.0),
        ("1 < 2", 1.0),
        ("2 <= 2", 1.0),
        ("3 > 2", 1.0),
        ("2 >= 3", 0.0),
        ("'abc' < 'abd'", 1.0),
        ("'10' = 10", 1.0),
        ("$(label) > 12", 1.0),
        ("'x' = 1", 0.0),
        ("0/0 = 0/0", 0.0),
        ("0/0 != 0/0", 1.0),
        ("1 < 2 = 1", 1.0),
    ] {
        assert_eq!(num(formula), expected, "{formula}");
    }
}

#[test]
fn logic_follows_truthiness_and_stops_early() {
    for (formula, expected) in [
        ("1 && 2", 1.0),
        ("1 && 0", 0.0),
        ("0 || 'x'", 1.0),
        ("0 || ''", 0.0),
        ("!0", 1.0),
        ("!5", 0.0),
        ("!(1/0)", 1.0),
        ("!(0/0)", 1.0),
        ("1 || 0 && 0", 1.0),
        // The right side would fail: it is never evaluated.
        ("0 && $(missing)", 0.0),
        ("1 || $(missing)", 1.0),
    ] {
        assert_eq!(num(formula), expected, "{formula}");
    }
}

#[test]
fn ternary_is_right_associative_and_lazy() {
    assert_eq!(num("1 ? 2 : 3"), 2.0);
    assert_eq!(num("0 ? 2 : 0 ? 3 : 4"), 4.0);
    assert_eq!(text("$(temp) > 30 ? 'hot' : 'ok'"), "ok");
    assert_eq!(num("1 ? 5 : $(missing)"), 5.0);
    assert_eq!(num("0 || 1 ? 7 : 8"), 7.0);
}

#[test]
fn like_matches_sql_patterns() {
    for (formula, expected) in [
        ("'Lab-2' LIKE 'Lab%'", 1.0),
        ("'Lab-2' like 'Lab-_'", 1.0),
        ("'Lab-22' LIKE 'Lab-_'", 0.0),
        ("'lab' LIKE 'LAB'", 0.0),
        ("'' LIKE '%'", 1.0),
        ("'abc' LIKE '%b%'", 1.0),
        ("'abc' LIKE 'a%c%'", 1.0),
        ("'abc' LIKE 'b%'", 0.0),
        ("123 LIKE '1%'", 1.0),
        ("LOWER($(room)) LIKE 'lab%' && 1", 1.0),
    ] {
        assert_eq!(num(formula), expected, "{formula}");
    }
}

#[test]
fn lower_and_upper() {
    assert_eq!(text("LOWER('AbC')"), "abc");
    assert_eq!(text("upper($(room))"), "LAB-2");
    assert_eq!(text("UPPER(1.5)"), "1.5");
}

#[test]
fn references_are_listed_once_in_order() {
    let f = Formula::parse("$(b) + $$(a) + $(b) + $(a)").unwrap();
    assert_eq!(f.attributes().collect::<Vec<_>>(), ["b", "a"]);
    assert_eq!(f.references().len(), 3);
    assert!(f.references()[1].last_known);
    assert_eq!(f.as_str(), "$(b) + $$(a) + $(b) + $(a)");
    assert_eq!(f.to_string(), f.as_str());
}

#[test]
fn parse_errors_name_the_position() {
    for (formula, position, words) in [
        ("", 0, "empty"),
        ("1 +", 3, "expected a value, found the end"),
        ("(1 + 2", 6, "expected ')'"),
        ("1 2", 2, "expected an operator"),
        ("1 ? 2", 5, "':' of the ternary"),
        ("hot", 0, "unknown name \"hot\""),
        ("LOWER 'x'", 6, "'(' after the function name"),
        ("* 2", 0, "expected a value, found \"*\""),
        ("$(a) $(b)", 5, "found $(b)"),
        ("2 * (3 + )", 9, "found \")\""),
    ] {
        let (at, message) = parse_error(formula);
        assert_eq!(at, position, "{formula}: {message}");
        assert!(message.contains(words), "{formula}: {message}");
        assert!(
            message.contains(&format!("at character {}", position + 1)),
            "{message}"
        );
    }
}

#[test]
fn deep_formulas_are_refused_not_overflowed() {
    let parens = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
    assert!(parse_error(&parens).1.contains("deeper than"));
    let nots = format!("{}1", "!".repeat(100_000));
    assert!(parse_error(&nots).1.contains("deeper than"));
    let chain = vec!["1"; 10_000].join(" + ");
    assert!(parse_error(&chain).1.contains("deeper than"));
    let ternaries = "1 ? 1 : ".repeat(10_000) + "1";
    assert!(parse_error(&ternaries).1.contains("deeper than"));
    // Within the limit is fine.
    let ok = vec!["1"; MAX_FORMULA_DEPTH].join(" + ");
    assert_eq!(num(&ok), MAX_FORMULA_DEPTH as f64);
}

#[test]
fn evaluation_errors_name_the_attribute_or_value() {
    let f = Formula::parse("$(missing) + 1").unwrap();
    let err = f.evaluate(&source).unwrap_err();
    assert!(
        err.to_string().contains("\"missing\" has no value"),
        "{err}"
    );
    let err = Formula::parse("$$(count) * $$(nothing)")
        .unwrap()
        .evaluate(&source)
        .unwrap_err();
    assert!(err.to_string().contains("no last known value"), "{err}");
    let err = Formula::parse("'abc' * 2")
        .unwrap()
        .evaluate(&source)
        .unwrap_err();
    assert!(err.to_string().contains("\"abc\" is not a number"), "{err}");
    let err = Formula::parse("-'inf'")
        .unwrap()
        .evaluate(&source)
        .unwrap_err();
    assert!(err.to_string().contains("not a number"), "{err}");
}

#[test]
fn values_convert_to_model_types() {
    let n = FormulaValue::Number(2.6);
    assert_eq!(n.to_value(ValueType::Integer), Some(Value::Integer(3)));
    assert_eq!(n.to_value(ValueType::Number), Some(Value::Number(2.6)));
    assert_eq!(n.to_value(ValueType::String), Some(Value::from("2.6")));
    assert_eq!(n.to_value(ValueType::Boolean), Some(Value::Boolean(true)));
    assert_eq!(
        FormulaValue::Number(1e300).to_value(ValueType::Integer),
        None
    );
    assert_eq!(
        FormulaValue::Number(f64::NAN).to_value(ValueType::Number),
        None
    );
    let t = FormulaValue::Text("hot".into());
    assert_eq!(t.to_value(ValueType::Number), None);
    assert_eq!(t.to_value(ValueType::String), Some(Value::from("hot")));
    assert_eq!(
        FormulaValue::Text(" 5 ".into()).to_value(ValueType::DateTime),
        Some(Value::DateTime(5))
    );
    assert_eq!(FormulaValue::Number(-0.0).to_text(), "0");
    assert_eq!(FormulaValue::Number(3.0).to_string(), "3");
    assert!(!FormulaValue::Number(f64::INFINITY).is_true());
}
