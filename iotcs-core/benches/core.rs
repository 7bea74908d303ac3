//! Benchmarks of iotcs-core's hot paths, printed as a table of medians.
//!
//! ```text
//! cargo bench -p iotcs-core --bench core
//! ```
//!
//! Each figure is the median of several timed rounds (machines here are noisy,
//! so medians, not means). No assertion is made on any figure: speed is
//! measured here, never asserted in tests.

#![allow(clippy::print_stdout, missing_docs)] // A bench binary's job is to print.

use std::hint::black_box;
use std::time::{Duration, Instant};

use iotcs_core::__private::crypto::{RsaKeyPair, jwt};
use iotcs_core::__private::encoding::{base64_decode, base64_encode};
use iotcs_core::__private::{parse_array, to_json_array, write_json_array};
use iotcs_core::message::Message;
use iotcs_core::model::samples;
use iotcs_core::{TrustedAssets, Value};

/// Runs `round` `rounds` times and returns the median duration of one round.
fn median(rounds: usize, mut round: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            round();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn row(name: &str, per_round: usize, unit: &str, d: Duration) {
    let per_item = d.as_secs_f64() / per_round as f64;
    let rate = format!("{:.0} {unit}/s", 1.0 / per_item);
    println!("| {name:<46} | {rate:>22} | {:>10.2} µs |", per_item * 1e6);
}

fn data_message(i: usize) -> Message {
    let data = vec![
        (
            "temp".to_string(),
            Value::Number(20.0 + (i % 10) as f64 / 10.0),
        ),
        ("minTemp".to_string(), Value::Number(18.5)),
        ("maxTemp".to_string(), Value::Number(24.25)),
        ("unit".to_string(), Value::from("Celsius")),
    ];
    Message::data(
        "0A1B2C3D-ENDPOINT",
        "urn:com:example:iotcs:temperature_sensor:attributes",
        data,
        1_700_000_000_000 + i as i64,
    )
    .expect("the sample data is valid")
}

fn main() {
    const BATCH: usize = 100;
    const ROUNDS: usize = 31;
    println!(
        "| operation                                      | throughput             | per item     |"
    );
    println!(
        "| ---------------------------------------------- | ---------------------- | ------------ |"
    );

    let batch: Vec<Message> = (0..BATCH).map(data_message).collect();
    row(
        "build DATA message (4 attributes)",
        BATCH,
        "msgs",
        median(ROUNDS, || {
            black_box((0..BATCH).map(data_message).collect::<Vec<_>>());
        }),
    );

    let mut buf = Vec::with_capacity(64 * 1024);
    row(
        "serialize batch of 100 DATA (write_json_array)",
        BATCH,
        "msgs",
        median(ROUNDS, || {
            buf.clear();
            write_json_array(&batch, &mut buf);
            black_box(&buf);
        }),
    );

    let wire = to_json_array(&batch);
    row(
        "parse batch of 100 DATA (parse_array)",
        BATCH,
        "msgs",
        median(ROUNDS, || {
            black_box(parse_array(wire.as_bytes()).expect("our own output parses"));
        }),
    );

    let model = samples::temperature_sensor();
    row(
        "validate one attribute value",
        10_000,
        "values",
        median(ROUNDS, || {
            for i in 0..10_000 {
                black_box(
                    model
                        .validate_attribute("temp", Value::from(i as f64 % 100.0))
                        .is_ok(),
                );
            }
        }),
    );

    let secret = b"sharedSecret123";
    row(
        "JWT client assertion HS256",
        1_000,
        "tokens",
        median(ROUNDS, || {
            for _ in 0..1_000 {
                black_box(jwt::client_assertion_hs256(
                    "DEVICE-1",
                    secret,
                    1_795_531_267,
                ));
            }
        }),
    );

    // 4 KiB, standard alphabet, wrapped at 76 columns with CRLF as Java's
    // provisioning writer does: the lenient path's worst case.
    let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
    let encoded = base64_encode(&bytes);
    let wrapped: String = encoded
        .as_bytes()
        .chunks(76)
        .map(|line| std::str::from_utf8(line).expect("base64 is ASCII"))
        .collect::<Vec<_>>()
        .join("\r\n");
    row(
        "base64 encode 4 KiB",
        100,
        "KiB",
        median(ROUNDS, || {
            for _ in 0..25 {
                black_box(base64_encode(black_box(&bytes)));
            }
        }),
    );
    row(
        "base64 decode 4 KiB, one line",
        100,
        "KiB",
        median(ROUNDS, || {
            for _ in 0..25 {
                black_box(base64_decode(black_box(&encoded)).ok());
            }
        }),
    );
    row(
        "base64 decode 4 KiB, wrapped (lenient)",
        100,
        "KiB",
        median(ROUNDS, || {
            for _ in 0..25 {
                black_box(base64_decode(black_box(&wrapped)).ok());
            }
        }),
    );

    let key = RsaKeyPair::generate(2048).expect("2048-bit keys are supported");
    row(
        "JWT client assertion RS256 (2048-bit)",
        20,
        "tokens",
        median(9, || {
            for _ in 0..20 {
                black_box(jwt::client_assertion_rs256("DEVICE-1", &key, 1_795_531_267).ok());
            }
        }),
    );

    row(
        "RSA 2048-bit key generation",
        1,
        "keys",
        median(9, || {
            black_box(RsaKeyPair::generate(2048).ok());
        }),
    );

    let mut assets = TrustedAssets::new("https://127.0.0.1:7443", "DEVICE-1", secret)
        .expect("a valid server URI");
    assets.set_activation("ENDPOINT-1", key.pkcs8_der(), key.public_key_der());
    let file = assets.encode("changeit").expect("valid assets encode");
    row(
        "trusted store decode (PBKDF2 10000 rounds)",
        1,
        "loads",
        median(15, || {
            black_box(TrustedAssets::decode(&file, "changeit").ok());
        }),
    );
    row(
        "trusted store encode",
        1,
        "saves",
        median(15, || {
            black_box(assets.encode("changeit").ok());
        }),
    );
}
