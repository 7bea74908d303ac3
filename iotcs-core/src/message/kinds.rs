//! The closed sets of names the envelope carries: message type, priority,
//! reliability, severity and direction. Each is an enum with its wire name,
//! written by one macro so that printing, parsing and the error listing the
//! allowed names can never disagree.

/// Declares a wire enum: the enum itself, `ALL`, `as_str`, `parse`, `Display`,
/// `Serialize`, and [`WireEnum`] for the parser's error messages.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }

            /// The value with this wire name. Names are matched exactly, as
            /// Oracle's Java client does (`valueOf`): a lower-case name is not
            /// a name.
            pub fn parse(name: &str) -> Option<$name> {
                match name {
                    $($wire => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl $crate::message::kinds::WireEnum for $name {
            fn from_wire(name: &str) -> Option<Self> {
                $name::parse(name)
            }

            fn wire_names() -> &'static str {
                concat!($($wire, ", "),+)
            }
        }
    };
}

/// What the parser needs to read a wire enum and to say what was allowed.
pub(crate) trait WireEnum: Sized {
    /// The value with this wire name.
    fn from_wire(name: &str) -> Option<Self>;

    /// Every wire name, each followed by `", "` (trimmed by the caller), so the
    /// list is built at compile time.
    fn wire_names() -> &'static str;
}

wire_enum! {
    /// The kind of a message, from its `type` field.
    #[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
    #[allow(
        clippy::exhaustive_enums,
        reason = "the service is frozen with exactly these five types, so callers may match exhaustively"
    )]
    pub enum MessageType {
        /// `DATA`: attribute values or a custom data format, device to cloud.
        Data = "DATA",
        /// `ALERT`: an alert format's fields and a severity, device to cloud.
        Alert = "ALERT",
        /// `REQUEST`: a REST-like call on a device resource, cloud to device.
        Request = "REQUEST",
        /// `RESPONSE`: the device's answer to a `REQUEST`.
        Response = "RESPONSE",
        /// `RESOURCES_REPORT`: the resources a device serves, device to cloud.
        ResourcesReport = "RESOURCES_REPORT",
    }
}

wire_enum! {
    /// How urgently a message should be sent. Ordered: `Lowest < Low < Medium <
    /// High < Highest`, so a dispatcher can pop the greatest first.
    #[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
    #[allow(
        clippy::exhaustive_enums,
        reason = "the service is frozen with exactly these five priorities, so dispatchers may map each to a queue"
    )]
    pub enum Priority {
        /// `LOWEST`.
        Lowest = "LOWEST",
        /// `LOW`: Oracle's Java client's default.
        Low = "LOW",
        /// `MEDIUM`: Oracle's JS client's default, and ours for data.
        Medium = "MEDIUM",
        /// `HIGH`.
        High = "HIGH",
        /// `HIGHEST`: alerts and resource reports.
        Highest = "HIGHEST",
    }
}

wire_enum! {
    /// How hard a client tries to deliver a message.
    #[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
    #[allow(
        clippy::exhaustive_enums,
        reason = "the service is frozen with exactly these three levels, so dispatchers may map each to a retry limit"
    )]
    pub enum Reliability {
        /// `NO_GUARANTEE`: retried a few times, never persisted.
        NoGuarantee = "NO_GUARANTEE",
        /// `BEST_EFFORT`: the default.
        #[default]
        BestEffort = "BEST_EFFORT",
        /// `GUARANTEED_DELIVERY`: persisted and retried until delivered.
        GuaranteedDelivery = "GUARANTEED_DELIVERY",
    }
}

wire_enum! {
    /// The severity of an alert.
    #[derive(Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
    #[allow(
        clippy::exhaustive_enums,
        reason = "the service is frozen with exactly these four severities, so callers may match exhaustively"
    )]
    pub enum Severity {
        /// `LOW`.
        Low = "LOW",
        /// `NORMAL`.
        Normal = "NORMAL",
        /// `SIGNIFICANT`: the default of Oracle's libraries.
        #[default]
        Significant = "SIGNIFICANT",
        /// `CRITICAL`.
        Critical = "CRITICAL",
    }
}

wire_enum! {
    /// Which way a message travelled, as the server records it in `direction`.
    #[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
    #[allow(
        clippy::exhaustive_enums,
        reason = "a message travels one of exactly two ways"
    )]
    pub enum Direction {
        /// `FROM_DEVICE`: posted by a device.
        FromDevice = "FROM_DEVICE",
        /// `TO_DEVICE`: delivered to a device.
        ToDevice = "TO_DEVICE",
    }
}

impl MessageType {
    /// The priority a message of this type gets when the caller sets none:
    /// `HIGHEST` for alerts and resource reports (Oracle's JS client does so,
    /// and both must overtake queued data), `MEDIUM` otherwise (the JS
    /// default; Java's `LOW` would let a steady data stream starve responses).
    pub fn default_priority(self) -> Priority {
        match self {
            MessageType::Alert | MessageType::ResourcesReport => Priority::Highest,
            MessageType::Data | MessageType::Request | MessageType::Response => Priority::Medium,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_round_trip<T: WireEnum + Copy + PartialEq + std::fmt::Debug>(
        all: &[T],
        as_str: fn(T) -> &'static str,
    ) {
        for &v in all {
            assert_eq!(T::from_wire(as_str(v)), Some(v));
            assert!(T::wire_names().contains(as_str(v)));
        }
        assert_eq!(T::wire_names().matches(", ").count(), all.len());
    }

    #[test]
    fn every_name_round_trips() {
        check_round_trip(MessageType::ALL, MessageType::as_str);
        check_round_trip(Priority::ALL, Priority::as_str);
        check_round_trip(Reliability::ALL, Reliability::as_str);
        check_round_trip(Severity::ALL, Severity::as_str);
        check_round_trip(Direction::ALL, Direction::as_str);
    }

    #[test]
    fn names_are_matched_exactly() {
        assert_eq!(Priority::parse("HIGH"), Some(Priority::High));
        assert_eq!(Priority::parse("high"), None);
        assert_eq!(Priority::parse(" HIGH"), None);
        assert_eq!(
            MessageType::parse("RESOURCES_REPORT"),
            Some(MessageType::ResourcesReport)
        );
        assert_eq!(MessageType::parse("WAKEUP"), None);
        assert_eq!(Reliability::parse("GUARANTEED"), None);
        assert_eq!(Severity::parse("MEDIUM"), None);
    }

    #[test]
    fn priorities_are_ordered_lowest_first() {
        let mut v = vec![
            Priority::High,
            Priority::Lowest,
            Priority::Highest,
            Priority::Medium,
        ];
        v.push(Priority::Low);
        v.sort();
        assert_eq!(v, Priority::ALL);
        assert!(Priority::Lowest < Priority::Highest);
    }

    #[test]
    fn wire_names_and_defaults() {
        assert_eq!(Reliability::default().to_string(), "BEST_EFFORT");
        assert_eq!(Severity::default(), Severity::Significant);
        assert_eq!(
            serde_json::to_string(&Priority::Lowest).unwrap(),
            "\"LOWEST\""
        );
        assert_eq!(Direction::ToDevice.as_str(), "TO_DEVICE");
        assert_eq!(
            Priority::wire_names(),
            "LOWEST, LOW, MEDIUM, HIGH, HIGHEST, "
        );
        assert_eq!(MessageType::Alert.default_priority(), Priority::Highest);
        assert_eq!(
            MessageType::ResourcesReport.default_priority(),
            Priority::Highest
        );
        assert_eq!(MessageType::Data.default_priority(), Priority::Medium);
        assert_eq!(MessageType::Response.default_priority(), Priority::Medium);
    }
}
