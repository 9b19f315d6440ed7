// The account's screens: verify an email address, reset a forgotten password (both without a
// session: the mailed code is the proof), and one's profile — name, email, own model key,
// verification, export, deletion.

import { h, fill, field, toast, when } from "./dom.js";
import { call, get, post, signOut } from "./api.js";
import { download, guarded, heading } from "./pages.js";

function done(box, text) {
  box.replaceChildren(h("p", { class: "ok", role: "status" }, text));
}

// ----- without a session -----------------------------------------------------------------------

export function verifyPage(main, params) {
  const code = h("input", { type: "text", required: true, autocomplete: "one-time-code", name: "token", value: params.get("token") || "" });
  const message = h("div", { "aria-live": "assertive" });
  const form = h("form", { class: "card narrow", "aria-labelledby": "verify-title" },
    h("h1", { id: "verify-title", tabindex: -1 }, "Verify your email address"),
    h("p", {}, "Enter the code troupe mailed to you."),
    field("Code", code), message, h("button", { type: "submit" }, "Verify"),
    h("p", {}, h("a", { href: "#/login" }, "Sign in")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(message, async () => {
      const user = await call("POST", "/api/v1/auth/verify", { token: code.value.trim() }, { anonymous: true });
      done(message, `${user.email} is verified.`);
      document.body.dataset.rendered = "verified";
    });
  });
  fill(main, form);
  code.focus();
}

export function resetPage(main, params) {
  const message = h("div", { "aria-live": "assertive" });
  if (!params.get("token") && !params.has("code")) {
    const email = h("input", { type: "email", required: true, autocomplete: "username", name: "email" });
    const form = h("form", { class: "card narrow", "aria-labelledby": "reset-title" },
      h("h1", { id: "reset-title", tabindex: -1 }, "Reset your password"),
      field("Email", email), message, h("button", { type: "submit" }, "Mail me a code"),
      h("p", {}, h("a", { href: "#/reset?code" }, "I have a code")), h("p", {}, h("a", { href: "#/login" }, "Sign in")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(message, async () => {
        await call("POST", "/api/v1/auth/password-reset", { email: email.value }, { anonymous: true });
        done(message, "If an account has this address, a code is on its way.");
        document.body.dataset.rendered = "reset-requested";
      });
    });
    fill(main, form);
    email.focus();
    return;
  }
  const code = h("input", { type: "text", required: true, autocomplete: "one-time-code", name: "token", value: params.get("token") || "" });
  const password = h("input", { type: "password", required: true, minlength: 8, autocomplete: "new-password", name: "new_password" });
  const form = h("form", { class: "card narrow", "aria-labelledby": "reset-title" },
    h("h1", { id: "reset-title", tabindex: -1 }, "Choose a new password"),
    field("Code", code), field("New password (at least 8 characters)", password), message,
    h("p", {}, "This signs out every session and revokes every API key of the account."),
    h("button", { type: "submit" }, "Set the password"), h("p", {}, h("a", { href: "#/login" }, "Sign in")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(message, async () => {
      await call("POST", "/api/v1/auth/password-reset/confirm", { token: code.value.trim(), new_password: password.value }, { anonymous: true });
      done(message, "Your password is changed. Sign in with it.");
      document.body.dataset.rendered = "reset-done";
    });
  });
  fill(main, form);
  (code.value ? password : code).focus();
}

// ----- the profile -----------------------------------------------------------------------------

export function profilePage(main, go) {
  const message = h("div", { "aria-live": "assertive" });
  const status = h("div", { "aria-live": "polite" });
  const name = h("input", { type: "text", name: "name", maxlength: 200 });
  const email = h("input", { type: "email", name: "email", autocomplete: "email" });
  const key = h("input", { type: "password", name: "api_key", autocomplete: "off", minlength: 8 });
  const model = h("input", { type: "text", name: "model", maxlength: 200 });
  const keyState = h("p", { "data-own-key": "" });
  const exportBox = h("div", { "data-export": "" });
  const deletePassword = h("input", { type: "password", name: "password", autocomplete: "current-password" });

  let current = null;
  const show = (profile) => {
    current = profile;
    name.value = profile.name || "";
    email.value = profile.email;
    fill(status,
      h("p", { "data-verified": String(profile.email_verified) }, profile.email_verified ? `${profile.email} is verified.` : `${profile.email} is not verified yet.`,
        profile.email_verified ? null : [" ", h("button", { type: "button", class: "link", on: { click: resend } }, "Mail me a new code"), " · ", h("a", { href: "#/verify" }, "Enter a code")]),
      profile.pending_email ? h("p", { "data-pending": profile.pending_email }, `Changing to ${profile.pending_email}: use the code mailed there.`) : null);
    keyState.dataset.ownKey = profile.llm ? profile.llm.key_last4 : "";
    fill(keyState, profile.llm ? `Your key ending in ${profile.llm.key_last4} is used for your executions${profile.llm.model ? ` (model ${profile.llm.model})` : ""}.` : "Your executions use the server's model key.");
    document.body.dataset.rendered = "profile";
  };
  const load = () => guarded(message, async () => show(await get("/api/v1/users/me")));
  const patch = (body, note) => guarded(message, async () => {
    show(await call("PATCH", "/api/v1/users/me", body));
    message.replaceChildren();
    toast(note);
  });
  const resend = () => guarded(message, async () => { await post("/api/v1/auth/verify/resend"); toast("A new code is on its way"); });

  const details = h("form", { class: "card", "aria-label": "Name and email" }, field("Name", name),
    field("Email", email, "A new address takes effect once you use the code mailed to it."), h("button", { type: "submit" }, "Save"));
  details.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { name: name.value.trim() || null };
    if (current && email.value.trim().toLowerCase() !== current.email) body.email = email.value.trim();
    patch(body, "Saved");
  });
  const keyForm = h("form", { class: "card", "aria-label": "Your model key" }, h("h2", {}, "Your model key"), keyState,
    field("Provider key", key, "Sealed at rest; never shown again."), field("Model (optional)", model),
    h("button", { type: "submit" }, "Use this key"), " ",
    h("button", { type: "button", class: "secondary", on: { click: () => patch({ llm: null }, "Key removed") } }, "Remove my key"));
  keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    patch({ llm: { api_key: key.value, model: model.value.trim() || undefined } }, "Key saved");
    key.value = "";
  });

  const exportButton = h("button", { type: "button", on: { click: () => guarded(message, async () => {
    let job = await post("/api/v1/users/me/export");
    fill(exportBox, h("p", {}, "Preparing the archive…"));
    while (job.status === "preparing") {
      await new Promise((resolve) => setTimeout(resolve, 500));
      job = await get(`/api/v1/users/me/exports/${job.id}`);
    }
    if (job.status !== "ready") throw new Error(job.error || "the export failed");
    const link = h("button", { type: "button", class: "link", "data-download": job.id, on: { click: () => guarded(message, async () => {
      const response = await call("GET", job.archive_url, undefined, { raw: true });
      download(`troupe-export-${job.id}.tar.gz`, await response.blob());
    }) } }, `Download the archive (${job.size} bytes, until ${when(job.expires_at)})`);
    fill(exportBox, h("p", {}, link));
  }) } }, "Export all my data");

  const deleteForm = h("form", { class: "card danger-zone", "aria-label": "Delete my account" }, h("h2", {}, "Delete my account"),
    h("p", {}, "Your executions, files, memories, keys and consent go, for good."), field("Password", deletePassword),
    h("button", { type: "submit", class: "danger" }, "Delete my account"));
  deleteForm.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(message, async () => {
      if (!confirm("Delete your account and everything it owns? This cannot be undone.")) return;
      await call("DELETE", "/api/v1/users/me", { password: deletePassword.value });
      await signOut();
      go("#/login");
    });
  });

  fill(main, heading("Your account"), message, status, details, keyForm,
    h("section", { class: "card", "aria-label": "Export" }, h("h2", {}, "Your data"), exportButton, exportBox), deleteForm);
  load();
}
