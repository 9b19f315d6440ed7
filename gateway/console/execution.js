// One execution: its graph with live statuses, the selected step's attempts and LLM
// exchanges, tokens while a model writes, the log tail, artifacts viewed in place, and what a
// person can do: cancel, retry, approve or reject.

import { h, fill, toast, badge, duration, when } from "./dom.js";
import { call, get, post, socket, ApiError } from "./api.js";
import { drawGraph, setNodeStatus } from "./graph.js";
import { renderMarkdown } from "./markdown.js";
import { download, notFoundPage } from "./pages.js";

const TERMINAL = new Set(["completed", "failed", "cancelled"]);

/** One line of the log tail, from a `log` event. */
function logLine(event) {
  return h("li", { class: `level-${event.level}` }, `${when(event.at)} ${event.step ? `[${event.step}] ` : ""}${event.message.split("\n")[0]}`);
}

export function executionPage(main, go, id) {
  const state = { execution: null, executionSeq: 0, steps: new Map(), selected: null, svg: null, lastSeq: 0 };
  const header = h("div", { class: "exec-header" });
  const actions = h("div", { class: "actions" });
  const approvals = h("section", { "aria-label": "Approvals", class: "approvals" });
  const graphBox = h("div", { class: "graph-box" });
  const stepBox = h("section", { class: "step card", "aria-live": "polite" }, h("p", {}, "Select a step in the graph."));
  const streaming = h("pre", { class: "stream", "aria-label": "The model's answer as it streams" });
  const logs = h("ol", { class: "logs", "aria-label": "Log" });
  const artifacts = h("ul", { class: "artifacts" });
  const viewer = h("section", { class: "viewer card", "aria-live": "polite" });
  const message = h("div");
  fill(main, header, message, actions, approvals, graphBox,
    h("div", { class: "columns" }, stepBox, h("section", {}, h("h2", {}, "Artifacts"), artifacts)),
    viewer, h("h2", {}, "Streaming"), streaming, h("h2", {}, "Log"), logs);

  const fail = (error) => fill(message, h("p", { class: "error", role: "alert" }, error.message));
  const statusOf = (key) => state.steps.get(key)?.status;

  function renderHeader() {
    const execution = state.execution;
    const cost = execution.usage ? `$${execution.usage.cost_usd.toFixed(4)}, ${execution.usage.total_tokens} tokens` : "";
    fill(header, h("h1", { tabindex: -1 }, `${execution.pipeline} `, badge(execution.status)),
      h("p", { class: "meta" }, `Execution ${execution.id} · started ${when(execution.started_at || execution.created_at)} · ${duration(execution.started_at, execution.finished_at)} ${cost}`),
      execution.error ? h("p", { class: "error" }, execution.error.message) : null);
    document.body.dataset.executionStatus = execution.status;
    const buttons = [];
    if (!TERMINAL.has(execution.status)) {
      buttons.push(h("button", { type: "button", class: "danger", "data-action": "cancel", on: { click: () => act(async () => {
        const answer = await post(`/api/v1/executions/${id}/cancel`);
        toast(`Execution ${answer.status}`);
      }) } }, "Cancel"));
    }
    if (execution.status === "failed") {
      buttons.push(h("button", { type: "button", "data-action": "retry", on: { click: () => act(async () => { await post(`/api/v1/executions/${id}/retry`); toast("Retried from its failed steps"); }) } }, "Retry from failed"));
    }
    fill(actions, buttons);
  }

  async function act(action) {
    try {
      await action();
      await refresh();
    } catch (error) {
      fail(error);
    }
  }

  async function renderApprovals() {
    const list = await get(`/api/v1/executions/${id}/approvals`);
    const waiting = list.filter((approval) => !approval.decision && statusOf(approval.step) === "waiting");
    fill(approvals, waiting.map((approval) => {
      const comment = h("input", { type: "text", "aria-label": `Comment on ${approval.step}`, maxlength: 4096 });
      const decide = (verb) => act(async () => {
        await post(`/api/v1/executions/${id}/steps/${approval.step}/${verb}`, { comment: comment.value || null });
        toast(`${approval.step} ${verb === "approve" ? "approved" : "rejected"}`);
      });
      return h("div", { class: "card approval", "data-approval": approval.step },
        h("h2", {}, `Waiting for a decision: ${approval.step}`),
        h("pre", { class: "prompt" }, approval.prompt),
        approval.deadline ? h("p", {}, `Times out ${when(approval.deadline)}`) : null,
        comment,
        h("button", { type: "button", "data-action": "approve", on: { click: () => decide("approve") } }, "Approve"), " ",
        h("button", { type: "button", class: "danger", "data-action": "reject", on: { click: () => decide("reject") } }, "Reject"));
    }));
  }

  async function renderArtifacts() {
    const list = await get(`/api/v1/executions/${id}/artifacts`);
    fill(artifacts, list.map((artifact) => h("li", { "data-artifact": artifact.name },
      h("button", { type: "button", class: "link", on: { click: () => view(artifact) } }, `${artifact.step} / ${artifact.name}`),
      ` (${artifact.size} bytes) `,
      h("button", { type: "button", class: "link", "aria-label": `Download ${artifact.name}`, on: { click: () => save(artifact) } }, "Download"))));
  }

  async function fetchArtifact(artifact) {
    const response = await call("GET", artifact.url, undefined, { raw: true });
    return response.blob();
  }

  async function view(artifact) {
    try {
      const blob = await fetchArtifact(artifact);
      const text = await blob.text();
      const name = artifact.name.toLowerCase();
      let body;
      if (name.endsWith(".md") || artifact.content_type.startsWith("text/markdown")) {
        body = renderMarkdown(text);
      } else if (artifact.content_type.includes("json")) {
        let pretty = text;
        try { pretty = JSON.stringify(JSON.parse(text), null, 2); } catch { /* shown as is */ }
        body = h("pre", { class: "code" }, pretty);
      } else {
        body = h("pre", { class: "code" }, text);
      }
      fill(viewer, h("h2", {}, artifact.name), h("div", { class: "artifact-view", "data-viewing": artifact.name }, body));
      viewer.scrollIntoView({ block: "nearest" });
    } catch (error) {
      fail(error);
    }
  }

  async function save(artifact) {
    try {
      download(artifact.name, await fetchArtifact(artifact));
    } catch (error) {
      fail(error);
    }
  }

  async function renderStep(key) {
    state.selected = key;
    const [steps, logLines] = await Promise.all([get(`/api/v1/executions/${id}/steps`), get(`/api/v1/executions/${id}/logs`)]);
    const step = steps.find((candidate) => candidate.key === key);
    if (!step) return;
    const exchanges = logLines.filter((line) => line.step_key === key && line.message.includes("LLM exchange"));
    const calls = state.execution?.usage?.calls || [];
    const spent = (attempt) => {
      const mine = calls.filter((call) => call.step === key && call.attempt === attempt);
      if (!mine.length) return "";
      const tokens = mine.reduce((sum, call) => sum + call.prompt_tokens + call.completion_tokens, 0);
      const cost = mine.reduce((sum, call) => sum + call.cost_usd, 0);
      return `${tokens} tokens, $${cost.toFixed(4)}`;
    };
    fill(stepBox, h("h2", {}, `Step ${key} `, badge(step.status)),
      h("p", {}, `Agent ${step.agent} · attempt ${step.attempt} · ${step.corrections} correction(s)`),
      step.error ? h("p", { class: "error" }, `${step.error.code}: ${step.error.message}`) : null,
      h("table", { class: "list", "aria-label": `Attempts of ${key}` },
        h("thead", {}, h("tr", {}, ["#", "Kind", "Status", "Duration", "Tokens and cost", "Error"].map((name) => h("th", { scope: "col" }, name)))),
        h("tbody", {}, step.attempts.map((attempt) => h("tr", {},
          h("td", {}, attempt.attempt), h("td", {}, attempt.kind), h("td", {}, badge(attempt.status)),
          h("td", {}, duration(attempt.started_at, attempt.finished_at)), h("td", {}, spent(attempt.attempt)),
          h("td", {}, attempt.error ? `${attempt.error.code}: ${attempt.error.message}` : ""))))),
      exchanges.length ? h("details", {}, h("summary", {}, `LLM exchanges (${exchanges.length}, redacted)`), exchanges.map((line) => h("pre", { class: "code" }, line.message))) : null,
      step.output !== null && step.output !== undefined ? h("details", {}, h("summary", {}, "Output"), h("pre", { class: "code" }, JSON.stringify(step.output, null, 2))) : null);
  }

  function applyEvent(event) {
    if (event.seq <= state.lastSeq) return;
    state.lastSeq = event.seq;
    switch (event.type) {
      case "step_status": {
        state.steps.set(event.step, { status: event.status, seq: event.seq });
        if (state.svg) setNodeStatus(state.svg, event.step, event.status);
        if (state.selected === event.step) renderStep(event.step).catch(fail);
        break;
      }
      case "step_retrying":
        if (state.svg) setNodeStatus(state.svg, event.step, "retrying");
        break;
      case "execution_status":
        state.executionSeq = event.seq;
        state.execution.status = event.status;
        if (event.error) state.execution.error = event.error;
        if (TERMINAL.has(event.status)) {
          get(`/api/v1/executions/${id}`).then((fresh) => { state.execution = fresh; renderHeader(); }).catch(fail);
        }
        renderHeader();
        break;
      case "log":
        logs.append(logLine(event));
        while (logs.children.length > 500) logs.firstChild.remove();
        break;
      case "artifact":
        renderArtifacts().catch(fail);
        break;
      case "approval_requested":
      case "approval_decided":
        renderApprovals().catch(fail);
        break;
      case "steps_appended":
        refresh().catch(fail);
        break;
      default:
        break;
    }
  }

  async function refresh() {
    // Events applied while these answers travel are newer than them: they win.
    const asOf = state.lastSeq;
    const [execution, steps] = await Promise.all([get(`/api/v1/executions/${id}`), get(`/api/v1/executions/${id}/steps`)]);
    if (state.execution && (state.executionSeq || 0) > asOf) execution.status = state.execution.status;
    state.execution = execution;
    for (const step of steps) {
      const known = state.steps.get(step.key);
      if (!known || known.seq <= asOf) state.steps.set(step.key, { status: step.status, seq: asOf });
    }
    renderHeader();
    const definition = execution.definition || { steps: steps.map((step) => ({ key: step.key })) };
    const handlers = definition.on_failure;
    const planned = definition.steps.map((step) => ({ ...step, on_failure: step.on_failure || (step.key !== handlers ? handlers : undefined) }));
    state.svg = drawGraph(planned, statusOf, (key) => renderStep(key).catch(fail));
    fill(graphBox, state.svg);
    await Promise.all([renderApprovals(), renderArtifacts()]);
    if (state.selected) await renderStep(state.selected);
    performance.mark("troupe:execution-rendered");
    document.body.dataset.rendered = "execution";
  }

  const stop = socket.listen((message) => {
    if (message.type === "event" && message.event.execution_id === id) applyEvent(message.event);
    if (message.type === "token" && message.execution_id === id) {
      streaming.append(message.text);
      if (streaming.textContent.length > 20000) streaming.textContent = streaming.textContent.slice(-10000);
    }
    if (message.type === "lagged" && message.execution_id === id) refresh().catch(fail);
  });

  (async () => {
    try {
      // The last event first: what happens while the page loads is replayed after it.
      let after = 0;
      let lines = [];
      for (;;) {
        const events = await get(`/api/v1/executions/${id}/events?after_seq=${after}&limit=1000`);
        if (events.length) after = events[events.length - 1].seq;
        lines = lines.concat(events.filter((event) => event.type === "log")).slice(-200);
        if (events.length < 1000) break;
      }
      await refresh();
      fill(logs, lines.map(logLine));
      state.lastSeq = after;
      socket.follow(id, after);
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 400)) notFoundPage(main, "execution");
      else fail(error);
    }
  })();
  return () => { stop(); socket.unfollow(id); };
}
