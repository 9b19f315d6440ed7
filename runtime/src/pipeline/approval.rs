//! Approval steps: a person decides whether an execution goes on.
//!
//! A step whose agent is [`APPROVAL_AGENT`] runs no agent. When its dependencies are done it
//! becomes `waiting` and records an [`ApprovalRecord`] (its prompt, who may decide, its
//! deadline). While nothing else of the execution runs, the execution is `waiting` too and is
//! *parked*: no shard holds it, no admission slot or lease is taken, and its deadline is a row
//! in the store. A decision ([`Decision::Approved`], [`Decision::Rejected`]) or the deadline
//! ([`Decision::TimedOut`]) is recorded once — the first to write it wins — and makes the
//! execution claimable again, on whichever node takes it. An approved step completes with the
//! decision as its output; a rejected or timed-out one fails, so its `on_failure` runs.
//!
//! The step's `params`:
//!
//! ```json
//! {"prompt": "Approve the design? {{ steps.architect.output.summary }}",
//!  "approvers": {"owner": true, "roles": ["admin"], "users": ["<user id>"]},
//!  "timeout": "24h"}
//! ```
//!
//! `{{ … }}` in the prompt is a JMESPath expression over the same data as a step's `when`
//! (the execution's input and the outputs of the steps done so far); a string result is quoted
//! as is, anything else as JSON.

use std::time::Duration;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Condition;
use crate::ids::{ExecutionId, UserId};

/// The agent kind of approval steps (built in: no actor runs it).
pub const APPROVAL_AGENT: &str = "approval";
/// The longest prompt as written and as rendered, in bytes.
pub const MAX_PROMPT_BYTES: usize = 16 << 10;
/// The longest comment a decision may carry, in bytes.
pub const MAX_COMMENT_BYTES: usize = 4 << 10;
/// The most `{{ … }}` expressions one prompt may quote.
pub const MAX_PROMPT_EXPRESSIONS: usize = 16;
/// The most users and roles an approval may name.
pub const MAX_APPROVERS: usize = 100;

/// The `params` of an approval step as written.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalParams {
    /// What is to be approved; may quote earlier outputs with `{{ <JMESPath> }}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Who may decide (default: the execution's owner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvers: Option<Approvers>,
    /// How long to wait for a decision, as a humantime duration (`"24h"`); after it the step
    /// fails with `approval_timed_out` and its `on_failure` runs. Without one it waits until
    /// decided or cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// Who may decide an approval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approvers {
    /// Whether the execution's owner may decide (default true).
    #[serde(default = "owner_default")]
    pub owner: bool,
    /// Roles whose members may decide (`admin`, `researcher`, `user`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Users who may decide, by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserId>,
}

fn owner_default() -> bool {
    true
}

impl Default for Approvers {
    fn default() -> Self {
        Self { owner: true, roles: Vec::new(), users: Vec::new() }
    }
}

impl Approvers {
    /// Returns whether `user` (of role `role`) may decide an approval of an execution `owner`
    /// owns.
    pub fn allows(&self, user: UserId, role: &str, owner: UserId) -> bool {
        (self.owner && user == owner) || self.users.contains(&user) || self.roles.iter().any(|name| name == role)
    }

    /// Returns whether `user` (of role `role`) is named by the approval itself (by id or role),
    /// not only as the owner: such a user may see the execution to decide it.
    pub fn names(&self, user: UserId, role: &str) -> bool {
        self.users.contains(&user) || self.roles.iter().any(|name| name == role)
    }
}

/// A checked approval step: what [`super::StepPlan::approval`] holds.
#[derive(Clone, Debug)]
pub struct ApprovalPlan {
    /// The prompt, compiled.
    pub prompt: PromptTemplate,
    /// Who may decide.
    pub approvers: Approvers,
    /// How long to wait for a decision.
    pub timeout: Option<Duration>,
}

const ROLES: [&str; 3] = ["admin", "researcher", "user"];

impl ApprovalPlan {
    /// Checks an approval step's `params`; an error names the field (under `params`) and what
    /// is wrong with it.
    pub fn from_params(params: Option<&Value>) -> Result<Self, (String, String)> {
        let params: ApprovalParams = match params {
            None | Some(Value::Null) => ApprovalParams::default(),
            Some(value) => serde_path_to_error::deserialize(value).map_err(|error| {
                let path = error.path().to_string();
                let field = if path.is_empty() || path == "." { "params".to_owned() } else { format!("params.{path}") };
                (field, error.inner().to_string())
            })?,
        };
        let prompt = PromptTemplate::parse(params.prompt.as_deref().unwrap_or("Approve to continue?"))
            .map_err(|message| ("params.prompt".to_owned(), message))?;
        let approvers = params.approvers.unwrap_or_default();
        if approvers.roles.len() + approvers.users.len() > MAX_APPROVERS {
            return Err(("params.approvers".into(), format!("may name at most {MAX_APPROVERS} users and roles")));
        }
        if let Some(role) = approvers.roles.iter().find(|role| !ROLES.contains(&role.as_str())) {
            return Err(("params.approvers.roles".into(), format!("unknown role `{role}` (admin, researcher, user)")));
        }
        if !approvers.owner && approvers.roles.is_empty() && approvers.users.is_empty() {
            return Err(("params.approvers".into(), "nobody may decide: name the owner, a role or users".into()));
        }
        let timeout = match params.timeout.as_deref() {
            None => None,
            Some(text) => {
                let timeout = humantime::parse_duration(text)
                    .map_err(|error| ("params.timeout".to_owned(), format!("invalid duration `{text}`: {error}")))?;
                if timeout.is_zero() {
                    return Err(("params.timeout".into(), "must be longer than zero".into()));
                }
                if timeout > Duration::from_secs(366 * 24 * 3600) {
                    return Err(("params.timeout".into(), "may be at most a year".into()));
                }
                Some(timeout)
            }
        };
        Ok(Self { prompt, approvers, timeout })
    }
}

/// A prompt with `{{ <JMESPath> }}` placeholders.
#[derive(Clone, Debug)]
pub struct PromptTemplate {
    parts: Vec<Part>,
}

#[derive(Clone, Debug)]
enum Part {
    Text(String),
    Quote(Condition),
}

impl PromptTemplate {
    /// Compiles a prompt; the error says which placeholder is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > MAX_PROMPT_BYTES {
            return Err(format!("may be at most {MAX_PROMPT_BYTES} bytes long"));
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            let Some(close) = rest[open + 2..].find("}}") else {
                return Err("a `{{` is not closed by `}}`".into());
            };
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let source = rest[open + 2..open + 2 + close].trim();
            let expression = Condition::compile(source)
                .map_err(|error| format!("invalid JMESPath expression `{source}`: {error}"))?;
            parts.push(Part::Quote(expression));
            rest = &rest[open + 2 + close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        let quotes = parts.iter().filter(|part| matches!(part, Part::Quote(_))).count();
        if quotes > MAX_PROMPT_EXPRESSIONS {
            return Err(format!("may quote at most {MAX_PROMPT_EXPRESSIONS} expressions, got {quotes}"));
        }
        Ok(Self { parts })
    }

    /// Renders the prompt over `data`; a quote that fails to evaluate is shown as such, and the
    /// result is cut at [`MAX_PROMPT_BYTES`].
    pub fn render(&self, data: &Value) -> String {
        let mut text = String::new();
        for part in &self.parts {
            match part {
                Part::Text(literal) => text.push_str(literal),
                Part::Quote(expression) => match expression.value(data) {
                    Ok(Value::String(quoted)) => text.push_str(&quoted),
                    Ok(Value::Null) => text.push_str("(none)"),
                    Ok(other) => text.push_str(&serde_json::to_string_pretty(&other).unwrap_or_default()),
                    Err(error) => text.push_str(&format!("(cannot quote `{}`: {error})", expression.source())),
                },
            }
            if text.len() > MAX_PROMPT_BYTES {
                text.truncate(text.floor_char_boundary(MAX_PROMPT_BYTES));
                text.push('…');
                break;
            }
        }
        text
    }
}

/// How an approval was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// A person approved: the step completes.
    Approved,
    /// A person rejected: the step fails with `approval_rejected`.
    Rejected,
    /// Nobody decided in time: the step fails with `approval_timed_out`.
    TimedOut,
}

impl Decision {
    /// Returns the decision as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Rejected => "rejected",
            Decision::TimedOut => "timed_out",
        }
    }

    /// Parses a stored decision.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "approved" => Some(Decision::Approved),
            "rejected" => Some(Decision::Rejected),
            "timed_out" => Some(Decision::TimedOut),
            _ => None,
        }
    }
}

/// One approval asked of people: by one attempt of an approval step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// The execution.
    pub execution_id: ExecutionId,
    /// The approval step.
    pub step_key: String,
    /// The step's attempt that asked.
    pub attempt: u32,
    /// What is to be approved, rendered.
    pub prompt: String,
    /// Who may decide.
    pub approvers: Approvers,
    /// When it was asked.
    pub requested_at: DateTime<Utc>,
    /// When it times out, if it does.
    pub deadline: Option<DateTime<Utc>>,
    /// The decision, once made.
    pub decision: Option<Decision>,
    /// Who decided (`None` for a timeout).
    pub decided_by: Option<UserId>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
    /// The decider's comment.
    pub comment: Option<String>,
}

/// A decision to record (see [`crate::store::ExecutionStore::decide_approval`]).
#[derive(Clone, Debug, PartialEq)]
pub struct DecisionRequest {
    /// The execution.
    pub execution_id: ExecutionId,
    /// The approval step.
    pub step_key: String,
    /// The decision.
    pub decision: Decision,
    /// Who decides (`None`: the deadline).
    pub by: Option<UserId>,
    /// Their comment.
    pub comment: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// What recording a decision did.
#[derive(Clone, Debug, PartialEq)]
pub struct Decided {
    /// The approval as stored now.
    pub record: ApprovalRecord,
    /// Whether this request made the decision (false: it was already decided, by whoever).
    pub recorded: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_prompt_quotes_earlier_outputs() {
        let template = PromptTemplate::parse("Approve {{ steps.architect.output.name }} with {{ input.n }}?").unwrap();
        let data = json!({"input": {"n": [1, 2]}, "steps": {"architect": {"output": {"name": "the design"}}}});
        assert_eq!(template.render(&data), "Approve the design with [\n  1,\n  2\n]?");
    }

    #[test]
    fn bad_params_name_their_field() {
        let (field, _) = ApprovalPlan::from_params(Some(&json!({"timeout": "soon"}))).unwrap_err();
        assert_eq!(field, "params.timeout");
        let (field, _) = ApprovalPlan::from_params(Some(&json!({"prompt": "{{ steps.( }}"}))).unwrap_err();
        assert_eq!(field, "params.prompt");
        let (field, _) = ApprovalPlan::from_params(Some(&json!({"approvers": {"roles": ["boss"]}}))).unwrap_err();
        assert_eq!(field, "params.approvers.roles");
        let (field, _) = ApprovalPlan::from_params(Some(&json!({"approvers": {"owner": false}}))).unwrap_err();
        assert_eq!(field, "params.approvers");
        let (field, _) = ApprovalPlan::from_params(Some(&json!({"approver": {}}))).unwrap_err();
        assert_eq!(field, "params.approver");
    }

    #[test]
    fn approvers_allow_the_owner_roles_and_users() {
        let owner = UserId(uuid::Uuid::from_u128(7));
        let other = UserId(uuid::Uuid::from_u128(8));
        let default = Approvers::default();
        assert!(default.allows(owner, "user", owner));
        assert!(!default.allows(other, "admin", owner));
        let named = Approvers { owner: false, roles: vec!["admin".into()], users: vec![other] };
        assert!(!named.allows(owner, "user", owner));
        assert!(named.allows(other, "user", owner));
        assert!(named.allows(owner, "admin", owner));
    }
}
