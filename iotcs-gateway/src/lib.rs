//! The gateway device and indirectly-connected devices: **not built yet** (issue 6).
//!
//! This crate will hold `GatewayDevice` (activation with the indirect-activation
//! capability, `register_device` with the signature rules of the protocol, the
//! metadata key constants) and virtual devices for indirectly-connected devices
//! whose messages travel through the gateway's connection. It depends on
//! `iotcs-device`, never the reverse. Until then it exports nothing.

#![forbid(unsafe_code)]
