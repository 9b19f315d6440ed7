//! Test agents shared by the crates' tests (the `testsuite` feature): an agent that echoes its
//! context, and one that waits at a gate the test opens.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::Semaphore;

use crate::agent::{Agent, AgentError, StepContext, StepOutput};

/// Returns its step key, input and attempt, with an artifact `<step>.txt`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

#[async_trait::async_trait]
impl Agent for Echo {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, AgentError> {
        let output = json!({ "step": ctx.step_key, "input": ctx.input.as_ref(), "attempt": ctx.attempt });
        Ok(StepOutput::new(output).artifact(
            format!("{}.txt", ctx.step_key),
            "text/plain",
            String::from(&*ctx.step_key),
        ))
    }
}

/// Echoes once the test hands it a permit, and tells the test each time an attempt arrives.
#[derive(Clone, Debug)]
pub struct Gate {
    /// One permit lets one attempt through.
    pub permits: Arc<Semaphore>,
    /// One permit per attempt that arrived.
    pub arrived: Arc<Semaphore>,
}

impl Gate {
    /// A gate that lets `open` attempts through before it closes.
    pub fn new(open: usize) -> Self {
        Self { permits: Arc::new(Semaphore::new(open)), arrived: Arc::new(Semaphore::new(0)) }
    }
}

#[async_trait::async_trait]
impl Agent for Gate {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, AgentError> {
        self.arrived.add_permits(1);
        self.permits.acquire().await.expect("the gate's semaphore is never closed").forget();
        Echo.run(ctx).await
    }
}
