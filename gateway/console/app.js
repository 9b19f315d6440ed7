// The console's router: `#/<screen>/<id>?<filters>` picks a screen; without a session every
// screen but setup shows the sign-in form.

import { h, fill } from "./dom.js";
import { onSession, signedIn, signOut, user } from "./api.js";
import {
  adminPage, agentsPage, executionsPage, filesPage, memoriesPage, newExecutionPage, notFoundPage, researchPage,
  setupPage, signInPage,
} from "./pages.js";
import { executionPage } from "./execution.js";
import { profilePage, resetPage, verifyPage } from "./account.js";

let cleanup = null;

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function nav() {
  const links = [["#/executions", "Executions"], ["#/new", "New"], ["#/agents", "Agents"], ["#/memories", "Memories"],
    ["#/files", "Files"], ["#/research", "Research"]];
  if (user()?.role === "admin") links.push(["#/admin", "Admin"]);
  links.push(["#/profile", "Account"]);
  fill(document.getElementById("nav"), signedIn() ? links.map(([href, label]) => h("a", { href, "aria-current": location.hash.startsWith(href) ? "page" : null }, label)) : []);
  fill(document.getElementById("who"), signedIn()
    ? [h("span", { class: "email" }, user().email), " ", h("button", { type: "button", class: "link", "data-action": "sign-out", on: { click: () => signOut() } }, "Sign out")]
    : []);
}

function route() {
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  const main = document.getElementById("main");
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean);
  const params = new URLSearchParams(query);
  nav();
  document.body.dataset.rendered = "";
  if (parts[0] === "setup") return setupPage(main, go);
  if (parts[0] === "verify") return verifyPage(main, params);
  if (parts[0] === "reset") return resetPage(main, params);
  if (!signedIn()) return signInPage(main, (hash) => go(parts.length && parts[0] !== "login" ? location.hash : hash));
  switch (parts[0] || "executions") {
    case "executions":
      cleanup = parts[1] ? executionPage(main, go, parts[1]) : executionsPage(main, go, params);
      break;
    case "new": newExecutionPage(main, go); break;
    case "agents": agentsPage(main); break;
    case "memories": memoriesPage(main); break;
    case "files": filesPage(main); break;
    case "research": researchPage(main); break;
    case "admin": adminPage(main); break;
    case "profile": profilePage(main, go); break;
    case "login": go("#/executions"); break;
    default: notFoundPage(main);
  }
  main.querySelector("h1")?.focus({ preventScroll: true });
}

onSession((started) => {
  if (!started) {
    go("#/login");
  }
  nav();
});
window.addEventListener("hashchange", route);
route();
