//! Execution and step statuses, and the transitions between them.
//!
//! An execution moves `planned → running → (validating ⇄ correcting) → completed | failed |
//! cancelled`; it is `validating`/`correcting` while any of its steps is, and `waiting` (parked)
//! while only approval steps are left to decide. A step moves `pending → running → validating →
//! (correcting → running)* → completed | failed | skipped | cancelled`; an approval step moves
//! `pending → waiting → completed | failed | cancelled`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Returned when a stored status string is not one this version knows.
#[derive(Debug, thiserror::Error)]
#[error("unknown status `{0}`")]
pub struct UnknownStatus(pub String);

macro_rules! status_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? } terminal: [$($terminal:ident),+]) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $(
                #[doc = concat!("`", $text, "`")]
                $variant,
            )+
        }

        impl $name {
            /// Every status, in lifecycle order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Returns the status as stored and shown (`snake_case`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Returns whether no further transition can follow this status.
            pub fn is_terminal(self) -> bool {
                matches!(self, $($name::$terminal)|+)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownStatus;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownStatus(other.to_owned())),
                }
            }
        }
    };
}

status_enum!(
    /// The lifecycle status of an execution.
    ExecutionStatus {
        Planned => "planned",
        Running => "running",
        Waiting => "waiting",
        Validating => "validating",
        Correcting => "correcting",
        Completed => "completed",
        Failed => "failed",
        Cancelled => "cancelled",
    }
    terminal: [Completed, Failed, Cancelled]
);

status_enum!(
    /// The lifecycle status of one step of an execution.
    StepStatus {
        Pending => "pending",
        Running => "running",
        Waiting => "waiting",
        Validating => "validating",
        Correcting => "correcting",
        Completed => "completed",
        Failed => "failed",
        Skipped => "skipped",
        Cancelled => "cancelled",
    }
    terminal: [Completed, Failed, Skipped, Cancelled]
);

impl StepStatus {
    /// Returns whether the step is being worked on (an attempt is running or about to).
    pub fn is_active(self) -> bool {
        matches!(self, StepStatus::Running | StepStatus::Validating | StepStatus::Correcting)
    }
}

status_enum!(
    /// How one attempt of a step ended.
    AttemptStatus {
        Running => "running",
        Succeeded => "succeeded",
        Rejected => "rejected",
        Failed => "failed",
        Crashed => "crashed",
        TimedOut => "timed_out",
        Cancelled => "cancelled",
        Interrupted => "interrupted",
    }
    terminal: [Succeeded, Rejected, Failed, Crashed, TimedOut, Cancelled, Interrupted]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_text() {
        for status in ExecutionStatus::ALL {
            assert_eq!(status.as_str().parse::<ExecutionStatus>().unwrap(), *status);
        }
        for status in StepStatus::ALL {
            assert_eq!(status.as_str().parse::<StepStatus>().unwrap(), *status);
        }
        assert!("finished".parse::<StepStatus>().is_err());
    }

    #[test]
    fn only_end_states_are_terminal() {
        assert!(ExecutionStatus::Cancelled.is_terminal());
        assert!(!ExecutionStatus::Correcting.is_terminal());
        assert!(StepStatus::Skipped.is_terminal());
        assert!(!StepStatus::Validating.is_terminal());
    }
}
