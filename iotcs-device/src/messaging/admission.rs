//! Whether the outbox takes a push: the decision alone, with no IO and no
//! lock, so every refusal is tested without a queue, a store or a thread.
//! The outbox gathers the facts (under its lock) and acts on the verdict.

use iotcs_core::Error;

use crate::messaging::room::NoRoom;

/// What the outbox knows when it decides on a push.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Facts {
    /// The queue is closed (the device is closing).
    pub(crate) closed: bool,
    /// Messages in the store now; `None` when persistence is off.
    pub(crate) persisted: Option<usize>,
    /// `GUARANTEED_DELIVERY` messages in the push (stored if persistence is on).
    pub(crate) guaranteed: usize,
    /// `[message_persistence] max_messages`.
    pub(crate) max_persisted: usize,
}

/// Why a push was refused, and whether the refusal is an overflow (its
/// messages' listeners hear of it and an overflow alert is raised).
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) error: Error,
    pub(crate) overflow: bool,
}

/// The refusal when no place in `dispatcher_max_queue_size` (`capacity`)
/// could be taken.
pub(crate) fn no_room(reason: NoRoom, capacity: usize) -> Refusal {
    match reason {
        NoRoom::Full => Refusal {
            error: Error::QueueFull { capacity },
            overflow: true,
        },
        NoRoom::Closed => Refusal {
            error: Error::Closed,
            overflow: false,
        },
    }
}

/// Whether a push that holds its places may go into the queue (and its
/// guaranteed messages into the store).
///
/// # Errors
///
/// [`Error::Closed`] once the queue is closed; [`Error::StoreFull`] (an
/// overflow) when the store cannot take the push's guaranteed messages.
pub(crate) fn admit(facts: Facts) -> Result<(), Refusal> {
    if facts.closed {
        return Err(Refusal {
            error: Error::Closed,
            overflow: false,
        });
    }
    if let Some(persisted) = facts.persisted
        && facts.guaranteed > 0
        && persisted + facts.guaranteed > facts.max_persisted
    {
        return Err(Refusal {
            error: Error::StoreFull {
                max_messages: facts.max_persisted,
            },
            overflow: true,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            closed: false,
            persisted: Some(8),
            guaranteed: 2,
            max_persisted: 10,
        }
    }

    #[test]
    fn a_push_that_fits_is_admitted() {
        assert!(admit(facts()).is_ok());
        // Without persistence, the store's bound does not apply.
        let off = Facts {
            persisted: None,
            guaranteed: 50,
            ..facts()
        };
        assert!(admit(off).is_ok());
        // Nothing guaranteed: a full store does not matter.
        let none = Facts {
            persisted: Some(10),
            guaranteed: 0,
            ..facts()
        };
        assert!(admit(none).is_ok());
    }

    #[test]
    fn a_closed_queue_refuses_without_overflow() {
        let refusal = admit(Facts {
            closed: true,
            ..facts()
        })
        .unwrap_err();
        assert!(matches!(refusal.error, Error::Closed));
        assert!(!refusal.overflow);
    }

    #[test]
    fn a_full_store_is_an_overflow() {
        let refusal = admit(Facts {
            guaranteed: 3,
            ..facts()
        })
        .unwrap_err();
        assert!(matches!(
            refusal.error,
            Error::StoreFull { max_messages: 10 }
        ));
        assert!(refusal.overflow);
    }

    #[test]
    fn no_room_is_an_overflow_unless_closing() {
        let full = no_room(NoRoom::Full, 7);
        assert!(matches!(full.error, Error::QueueFull { capacity: 7 }));
        assert!(full.overflow);
        let closed = no_room(NoRoom::Closed, 7);
        assert!(matches!(closed.error, Error::Closed));
        assert!(!closed.overflow);
    }
}
