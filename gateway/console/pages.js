// The console's screens except one execution's (execution.js). Each screen is a function that
// fills `main` and returns an optional clean-up.

import { h, fill, field, toast, badge, duration, when } from "./dom.js";
import { call, get, post, signIn, setup, socket, user } from "./api.js";
import { inputForm } from "./form.js";

export function heading(text) {
  return h("h1", { tabindex: -1 }, text);
}

function problem(error) {
  const fields = error.details?.fields?.map((f) => `${f.field}: ${f.message}`).join("; ");
  return h("p", { class: "error", role: "alert" }, fields || error.message);
}

export async function guarded(box, action) {
  try {
    await action();
  } catch (error) {
    box.replaceChildren(problem(error));
  }
}

// ----- sign in and first start ---------------------------------------------------------------

export function signInPage(main, go) {
  const email = h("input", { type: "email", autocomplete: "username", required: true, name: "email" });
  const password = h("input", { type: "password", autocomplete: "current-password", required: true, name: "password" });
  const message = h("div", { "aria-live": "assertive" });
  const form = h("form", { class: "card narrow", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    field("Email", email), field("Password", password), message,
    h("button", { type: "submit" }, "Sign in"),
    h("p", {}, h("a", { href: "#/reset" }, "Forgot your password?"), " · ", h("a", { href: "#/verify" }, "Verify your email")),
    h("p", {}, "First start? ", h("a", { href: "#/setup" }, "Set up the first admin with the setup token")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(message, async () => {
      await signIn(email.value, password.value);
      go("#/executions");
    });
  });
  fill(main, form);
  email.focus();
}

export function setupPage(main, go) {
  const token = h("input", { type: "text", required: true, autocomplete: "off", name: "setup_token" });
  const email = h("input", { type: "email", required: true, autocomplete: "username", name: "email" });
  const password = h("input", { type: "password", required: true, minlength: 8, autocomplete: "new-password", name: "password" });
  const message = h("div", { "aria-live": "assertive" });
  const form = h("form", { class: "card narrow" },
    h("h1", {}, "First start"),
    h("p", {}, "troupe wrote a one-time setup token into its data directory (setup-token) when it first started."),
    field("Setup token", token), field("Admin email", email), field("Password (at least 8 characters)", password), message,
    h("button", { type: "submit" }, "Create the admin"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(message, async () => {
      await setup(token.value.trim(), email.value, password.value);
      go("#/executions");
    });
  });
  fill(main, form);
  token.focus();
}

// ----- executions ----------------------------------------------------------------------------

const STATUSES = ["", "planned", "running", "waiting", "validating", "correcting", "completed", "failed", "cancelled"];

export function executionsPage(main, go, params) {
  const status = h("select", { name: "status" }, STATUSES.map((value) => h("option", { value, selected: params.get("status") === value || null }, value || "any")));
  const pipeline = h("input", { type: "text", name: "pipeline", value: params.get("pipeline") || "" });
  const filters = h("form", { class: "filters", role: "search" }, field("Status", status), field("Pipeline", pipeline), h("button", { type: "submit" }, "Filter"));
  const table = h("tbody");
  const more = h("div", { class: "paging" });
  const message = h("div");
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    if (status.value) query.set("status", status.value);
    if (pipeline.value) query.set("pipeline", pipeline.value);
    go(`#/executions?${query}`);
  });
  fill(main, heading("Executions"),
    h("p", {}, h("a", { class: "button", href: "#/new" }, "New execution")),
    filters, message,
    h("table", { class: "list", "aria-label": "Executions" },
      h("thead", {}, h("tr", {}, ["Status", "Pipeline", "Project", "Started", "Duration", "Cost"].map((name) => h("th", { scope: "col" }, name)))),
      table),
    more);
  const rows = new Map();
  const row = (execution) => {
    const tr = h("tr", { "data-execution": execution.id },
      h("td", {}, badge(execution.status)),
      h("td", {}, h("a", { href: `#/executions/${execution.id}` }, execution.pipeline)),
      h("td", {}, execution.project_id ? execution.project_id.slice(-8) : ""),
      h("td", {}, when(execution.started_at || execution.created_at)),
      h("td", {}, duration(execution.started_at, execution.finished_at)),
      h("td", {}, execution.usage ? `$${execution.usage.cost_usd.toFixed(4)}` : "—"));
    rows.set(execution.id, tr);
    return tr;
  };
  const load = async (cursor) => {
    const query = new URLSearchParams();
    for (const name of ["status", "pipeline", "project_id"]) if (params.get(name)) query.set(name, params.get(name));
    query.set("limit", "25");
    if (cursor) query.set("cursor", cursor);
    const page = await get(`/api/v1/executions?${query}`);
    table.append(...page.items.map(row));
    fill(more, page.next_cursor ? h("button", { type: "button", class: "secondary", on: { click: () => guarded(message, () => load(page.next_cursor)) } }, "More") : null);
    if (!cursor) {
      if (!page.items.length) table.append(h("tr", {}, h("td", { colspan: 6 }, "No executions yet.")));
      performance.mark("troupe:executions-rendered");
      document.body.dataset.rendered = "executions";
    }
  };
  guarded(message, () => load(null));
  // Live: statuses change in place; a new execution of this user is fetched and put on top.
  const stop = socket.listen(async (message) => {
    if (message.type !== "event" || message.event.type !== "execution_status") return;
    const id = message.event.execution_id;
    const existing = rows.get(id);
    if (existing) {
      existing.cells[0].replaceChildren(badge(message.event.status));
    } else if (!params.get("status") && !params.get("pipeline")) {
      try { table.prepend(row(await get(`/api/v1/executions/${id}`))); } catch { /* not visible */ }
    }
  });
  socket.follow("*");
  return () => { stop(); socket.unfollow("*"); };
}

export function newExecutionPage(main, go) {
  const message = h("div");
  const pipelines = h("select", { name: "pipeline" });
  const formBox = h("div");
  const tokens = h("input", { type: "number", min: 1, name: "max_tokens" });
  const cost = h("input", { type: "number", min: 0, step: "any", name: "max_cost_usd" });
  let current = inputForm(null);
  let defs = [];
  const show = () => {
    const def = defs.find((candidate) => candidate.name === pipelines.value);
    current = inputForm(def?.definition?.input_schema);
    fill(formBox, current.element);
  };
  pipelines.addEventListener("change", show);
  const form = h("form", { class: "card" }, heading("New execution"),
    field("Pipeline", pipelines), formBox,
    h("fieldset", {}, h("legend", {}, "Budget (optional)"), field("Most tokens", tokens), field("Most cost (US dollars)", cost)),
    message, h("button", { type: "submit" }, "Start"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(message, async () => {
      const body = { pipeline: pipelines.value, input: current.value() };
      const budget = {};
      if (tokens.value) budget.max_tokens = Number(tokens.value);
      if (cost.value) budget.max_cost_usd = Number(cost.value);
      if (Object.keys(budget).length) body.budget = budget;
      const created = await post("/api/v1/executions", body);
      go(`#/executions/${created.id}`);
    });
  });
  fill(main, form);
  guarded(message, async () => {
    defs = await get("/api/v1/pipelines");
    fill(pipelines, defs.map((def) => h("option", { value: def.name }, def.name)));
    show();
  });
}

// ----- agents --------------------------------------------------------------------------------

export function agentsPage(main) {
  const body = h("tbody");
  const message = h("div");
  fill(main, heading("Agents"), message, h("table", { class: "list", "aria-label": "Agents" },
    h("thead", {}, h("tr", {}, ["Kind", "Health", "Actors", "In flight", "Restarts", "Crashes", ""].map((name) => h("th", { scope: "col" }, name)))), body));
  const load = () => guarded(message, async () => {
    const agents = await get("/api/v1/agents");
    fill(body, agents.map((agent) => h("tr", { "data-agent": agent.kind },
      h("td", {}, agent.kind), h("td", {}, badge(agent.status), agent.reason ? ` ${agent.reason}` : ""),
      h("td", {}, `${agent.live_actors}/${agent.pool_size}`), h("td", {}, agent.in_flight),
      h("td", {}, agent.restarts), h("td", {}, agent.crashes),
      h("td", {}, agent.status === "quarantined" && user()?.role === "admin"
        ? h("button", { type: "button", on: { click: () => guarded(message, async () => { await post(`/api/v1/agents/${agent.kind}/release`); load(); }) } }, "Release")
        : ""))));
  });
  load();
}

// ----- memories ------------------------------------------------------------------------------

export function memoriesPage(main) {
  const query = h("input", { type: "search", name: "query" });
  const text = h("textarea", { rows: 2, name: "text" });
  const results = h("ul", { class: "memories", "aria-live": "polite" });
  const message = h("div");
  const show = (memories) => fill(results, memories.map((memory) => h("li", {},
    h("p", {}, memory.text), h("small", {}, `${memory.kind} · ${when(memory.created_at)}${memory.score != null ? ` · score ${memory.score.toFixed(3)}` : ""}`),
    h("button", { type: "button", class: "link", on: { click: () => guarded(message, async () => { await call("DELETE", `/api/v1/memories/${memory.id}`); toast("Memory deleted"); search(); }) } }, "Delete"))));
  const search = () => guarded(message, async () => {
    if (query.value.trim()) show((await post("/api/v1/memories/search", { query: query.value, k: 20 })).results);
    else show((await get("/api/v1/memories/export")).memories);
  });
  const searchForm = h("form", { role: "search" }, field("Search by meaning", query), h("button", { type: "submit" }, "Search"));
  searchForm.addEventListener("submit", (event) => { event.preventDefault(); search(); });
  const addForm = h("form", {}, field("Remember", text), h("button", { type: "submit" }, "Add"));
  addForm.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(message, async () => { await post("/api/v1/memories", { text: text.value, kind: "note" }); text.value = ""; search(); });
  });
  const exportButton = h("button", { type: "button", class: "secondary", on: { click: () => guarded(message, async () => {
    const data = await get("/api/v1/memories/export");
    download("memories.json", new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
  }) } }, "Export");
  const deleteAll = h("button", { type: "button", class: "danger", on: { click: () => guarded(message, async () => {
    if (!confirm("Delete every memory of yours?")) return;
    await call("DELETE", "/api/v1/memories?confirm=true");
    search();
  }) } }, "Delete all");
  fill(main, heading("Memories"), message, searchForm, addForm, h("p", {}, exportButton, " ", deleteAll), results);
  search();
}

export function download(name, blob) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

// ----- files ---------------------------------------------------------------------------------

export function filesPage(main) {
  const input = h("input", { type: "file", name: "file" });
  const body = h("tbody");
  const usage = h("p");
  const message = h("div");
  const load = () => guarded(message, async () => {
    const files = await get("/api/v1/files");
    fill(usage, `${files.used_bytes} of ${files.quota_bytes} bytes used; at most ${files.max_file_bytes} bytes a file.`);
    fill(body, files.items.map((file) => h("tr", { "data-file": file.id },
      h("td", {}, file.name), h("td", {}, file.content_type), h("td", {}, file.size), h("td", {}, h("code", {}, file.id)),
      h("td", {}, h("button", { type: "button", class: "link", on: { click: () => guarded(message, async () => { await call("DELETE", `/api/v1/files/${file.id}`); load(); }) } }, "Delete")))));
  });
  const form = h("form", {}, field("Upload a file (PDF or text)", input), h("button", { type: "submit" }, "Upload"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(message, async () => {
      const data = new FormData();
      data.append("file", input.files[0]);
      await call("POST", "/api/v1/files", data);
      toast("Uploaded");
      load();
    });
  });
  fill(main, heading("Files"), message, form, usage, h("table", { class: "list", "aria-label": "Files" },
    h("thead", {}, h("tr", {}, ["Name", "Type", "Bytes", "Id", ""].map((name) => h("th", { scope: "col" }, name)))), body));
  load();
}

// ----- research ------------------------------------------------------------------------------

export function researchPage(main) {
  const message = h("div");
  const experiments = h("div");
  const history = h("ul");
  const admin = h("div");
  const load = () => guarded(message, async () => {
    const list = await get("/api/v1/experiments");
    fill(experiments, list.length ? list.map((experiment) => h("section", { class: "card", "data-experiment": experiment.id },
      h("h2", {}, experiment.title),
      h("p", {}, experiment.hypothesis),
      h("p", {}, `Privacy budget: ε ${experiment.epsilon_spent} of ${experiment.epsilon_total} spent · ${experiment.status}`),
      h("p", { "data-consent": experiment.consented ? "granted" : "none" }, experiment.consented ? "You take part." : "You do not take part."),
      h("button", { type: "button", on: { click: () => guarded(message, async () => {
        await post(`/api/v1/experiments/${experiment.id}/consent`, { granted: !experiment.consented });
        toast(experiment.consented ? "Consent revoked" : "Consent granted");
        load();
      }) } }, experiment.consented ? "Revoke consent" : "Grant consent"),
      experiment.owner_id === user()?.id ? releases(experiment) : null)) : h("p", {}, "No experiments."));
    const consents = await get("/api/v1/consent");
    fill(history, consents.map((consent) => h("li", {}, `${when(consent.at)}: ${consent.granted ? "granted" : "revoked"} for ${consent.experiment}`)));
    if (user()?.role === "admin") {
      const [plugins, flags] = await Promise.all([get("/api/v1/plugins"), get("/api/v1/flags")]);
      fill(admin, h("h2", {}, "Plugins"), h("ul", {}, plugins.map((plugin) => h("li", {}, `${plugin.name} ${plugin.version} (${plugin.track}): `, badge(plugin.status)))),
        h("h2", {}, "Flags"), h("ul", {}, flags.map((flag) => h("li", {}, `${flag.name}: ${flag.enabled ? "on" : "off"}, ${flag.rollout_percent}% rollout`))));
    }
  });
  fill(main, heading("Research"), message, experiments, h("h2", {}, "Your consent history"), history, admin);
  load();
}

function releases(experiment) {
  const box = h("div", {}, h("h3", {}, "Releases"));
  get(`/api/v1/experiments/${experiment.id}/releases`).then((list) => {
    box.append(h("ul", {}, list.map((release) => h("li", {}, `${release.metric}: noisy mean ${release.noisy_mean ?? "—"} (ε ${release.epsilon})`))));
  }).catch(() => {});
  return box;
}

// ----- admin ---------------------------------------------------------------------------------

export function adminPage(main) {
  const message = h("div");
  const users = h("tbody");
  const audit = h("tbody");
  const nodes = h("tbody");
  const email = h("input", { type: "email", name: "email", required: true });
  const password = h("input", { type: "password", name: "password", required: true, minlength: 8, autocomplete: "new-password" });
  const invite = h("form", { class: "inline" }, field("Invite a user (email)", email), field("First password (they change it)", password),
    h("button", { type: "submit" }, "Invite"));
  invite.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(message, async () => {
      await post("/api/v1/users", { email: email.value, password: password.value });
      toast(`Invited ${email.value}`);
      email.value = password.value = "";
      load();
    });
  });
  const patch = (id, body) => guarded(message, async () => { await call("PATCH", `/api/v1/users/${id}`, body); load(); });
  const load = () => guarded(message, async () => {
    const [list, entries, cluster] = await Promise.all([get("/api/v1/users"), get("/api/v1/audit"), get("/api/v1/nodes")]);
    fill(users, list.map((account) => {
      const role = h("select", { "aria-label": `Role of ${account.email}`, on: { change: (event) => patch(account.id, { role: event.target.value }) } },
        ["user", "researcher", "admin"].map((name) => h("option", { value: name, selected: account.role === name || null }, name)));
      return h("tr", {}, h("td", {}, account.email), h("td", {}, role), h("td", {}, account.disabled ? "disabled" : "active"),
        h("td", {}, account.budget ? JSON.stringify(account.budget) : "server default"),
        h("td", {}, h("button", { type: "button", class: "link", on: { click: () => patch(account.id, { disabled: !account.disabled }) } }, account.disabled ? "Enable" : "Disable")));
    }));
    fill(audit, entries.slice(0, 50).map((entry) => h("tr", {}, h("td", {}, when(entry.at)), h("td", {}, entry.action), h("td", {}, entry.target || ""), h("td", {}, entry.ip || ""))));
    fill(nodes, cluster.map((node) => h("tr", {}, h("td", {}, node.id), h("td", {}, node.live ? "live" : "gone"), h("td", {}, node.executions), h("td", {}, when(node.heartbeat_at)))));
  });
  fill(main, heading("Administration"), message, h("h2", {}, "Users"), invite,
    h("table", { class: "list", "aria-label": "Users" }, h("thead", {}, h("tr", {}, ["Email", "Role", "State", "Budget", ""].map((n) => h("th", { scope: "col" }, n)))), users),
    h("h2", {}, "Nodes"), h("table", { class: "list", "aria-label": "Nodes" }, h("thead", {}, h("tr", {}, ["Node", "State", "Executions", "Heartbeat"].map((n) => h("th", { scope: "col" }, n)))), nodes),
    h("h2", {}, "Audit log"), h("table", { class: "list", "aria-label": "Audit log" }, h("thead", {}, h("tr", {}, ["At", "Action", "Target", "Address"].map((n) => h("th", { scope: "col" }, n)))), audit));
  load();
}

export function notFoundPage(main, what = "page") {
  fill(main, heading("Not found"), h("p", { "data-not-found": "" }, `No such ${what}, or not yours.`), h("p", {}, h("a", { href: "#/executions" }, "Back to executions")));
}
