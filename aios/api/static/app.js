// The aios dashboard: plain DOM, the daemon's API, one event stream for live updates.
"use strict";

const view = document.getElementById("view");
const processes = new Map();
let stream = null;
let current = () => {};
let shown = 0;  // the latest view asked for: a slower, older render must not replace it

function claim() {
  const mine = ++shown;
  return () => mine === shown;
}

function cookie(name) {
  const hit = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return hit ? decodeURIComponent(hit.slice(name.length + 1)) : "";
}

async function api(method, path, body) {
  const headers = { "X-CSRF-Token": cookie("aios_csrf") };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) { askLogin(); throw new Error("log in first"); }
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new Error(problem.detail || response.statusText);
  }
  return response.status === 204 ? null : response.json();
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function askLogin() {
  const dialog = document.getElementById("login");
  if (!dialog.open) dialog.showModal();
}

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = document.getElementById("login-token").value.trim();
  const response = await fetch("/v1/session", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token }),
  });
  if (!response.ok) {
    document.getElementById("login-error").textContent = "That token was refused.";
    return;
  }
  document.getElementById("login").close();
  start();
});

document.getElementById("logout").addEventListener("click", async () => {
  await api("DELETE", "/v1/session");
  location.reload();
});

function stateCell(state) {
  return el("td", { class: "state-" + state, "data-state": state }, state);
}

function processRow(p) {
  return el("tr", { "data-pid": p.pid },
    el("td", {}, el("a", { href: "#/p/" + p.pid }, p.pid)),
    el("td", {}, p.agent), stateCell(p.state),
    el("td", {}, (p.task || "").slice(0, 80)),
    el("td", { class: "num" }, p.llm_calls), el("td", { class: "num" }, p.tokens_in + " / " + p.tokens_out),
    el("td", { class: "num" }, p.tool_calls), el("td", { class: "num" }, p.queue_wait_ms.toFixed(1) + " ms"),
    el("td", {}, p.kv_state ? p.kv_state + " (" + p.kv_tokens + " tok)" : "-"));
}

async function showProcesses() {
  const stillShown = claim();
  const list = await api("GET", "/v1/processes?limit=200");
  list.forEach((p) => processes.set(p.pid, p));
  const agents = await api("GET", "/v1/agents");
  const select = el("select", { id: "spawn-agent" },
    agents.filter((a) => a.manifest).map((a) => el("option", { value: a.name }, a.name)));
  const task = el("input", { id: "spawn-task", type: "text", placeholder: "Task for the agent", required: "" });
  const form = el("form", { class: "inline", id: "spawn-form" }, select, task, el("button", { type: "submit" }, "Spawn"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const p = await api("POST", "/v1/processes", { agent: select.value, task: task.value });
    processes.set(p.pid, p);
    task.value = "";
    render();
  });
  const body = el("tbody", { id: "process-rows" });
  const table = el("table", { id: "processes" },
    el("thead", {}, el("tr", {}, ["pid", "agent", "state", "task", "LLM calls", "tokens in / out", "tools",
      "queue wait", "KV"].map((h) => el("th", {}, h)))), body);
  if (!stillShown()) return;
  view.replaceChildren(form, table);
  const render = () => body.replaceChildren(
    ...[...processes.values()].sort((a, b) => b.pid - a.pid).map(processRow));
  render();
  current = (event) => { if (event.pid !== undefined) refresh(event.pid).then(render); };
}

const asked = new Map();  // pid -> how many times asked: answers can come back out of order

async function refresh(pid) {
  const mine = (asked.get(pid) || 0) + 1;
  asked.set(pid, mine);
  try {
    const record = await api("GET", "/v1/processes/" + pid);
    if (asked.get(pid) === mine) processes.set(pid, record);
  } catch (e) { /* gone, or not ours */ }
}

function describe(e) {
  const d = e.detail || {};
  if (e.kind === "syscall_finished" && e.syscall === "llm" && e.status === "ok")
    return `llm ${e.target}: ${d.prompt_tokens} tok in (reused ${d.reused_tokens}) -> ${d.completion_tokens} tok out`;
  if (e.kind === "syscall_finished") return `${e.syscall} ${e.target || ""} ${e.status}${d.error ? ": " + d.error : ""}`;
  if (e.kind === "syscall_started" && e.syscall === "tool") return `tool ${e.target} ${JSON.stringify(d.arguments || {})}`;
  return `${e.kind} ${e.target || ""} ${e.status || ""}`;
}

async function showProcess(pid) {
  const stillShown = claim();
  const p = await api("GET", "/v1/processes/" + pid);
  const logs = await api("GET", `/v1/processes/${pid}/logs`);
  const timeline = el("ol", { class: "timeline", id: "timeline" },
    logs.audit.map((r) => el("li", {}, `${r.kind} ${r.target} ${r.status}${r.error ? ": " + r.error : ""}`)));
  const head = el("h2", {}, `pid ${p.pid} · ${p.agent} · `, el("span", { class: "state-" + p.state, id: "process-state" }, p.state));
  const answer = el("div", { class: "answer", id: "answer" }, p.result || "");
  const live = el("pre", { id: "live-output", hidden: "" });
  const error = el("div", { class: "error", id: "process-error" }, p.error || "");
  const kill = el("button", {}, "Kill");
  kill.addEventListener("click", () => api("POST", `/v1/processes/${pid}/kill`));
  if (!stillShown()) return;
  view.replaceChildren(head, el("p", {}, p.task), kill, el("h3", {}, "Timeline"), timeline,
    live, el("h3", {}, "Answer"), answer, error,
    logs.output ? el("div", {}, el("h3", {}, "Output"), el("pre", {}, logs.output)) : "");
  let asked = 0;
  let ended = false;
  const paint = (state, result, problem) => {
    const badge = document.getElementById("process-state");
    badge.textContent = state;
    badge.className = "state-" + state;
    answer.textContent = result || "";
    error.textContent = problem || "";
  };
  const update = async () => {
    const mine = ++asked;  // answers can come back out of order: only the latest asked may paint
    const now = await api("GET", "/v1/processes/" + pid);
    if (mine === asked && !ended) paint(now.state, now.result, now.error);
  };
  current = async (event) => {
    if (event.pid !== pid) return;
    if (event.kind === "llm_output") {  // the model's words as they come
      live.hidden = false;
      live.textContent += event.detail.text;
      return;
    }
    if (event.kind === "syscall_finished" && event.syscall === "llm") live.textContent += "\n";
    if (event.kind !== "syscall_started") timeline.append(el("li", {}, describe(event)));
    if (event.kind === "exited") {  // the event says how it ended: no question, no race
      ended = true;
      paint(event.status, event.detail.result, event.detail.error);
    } else if (event.kind === "approval_requested" || event.kind === "approval_decided") {
      await update();
    }
  };
  await update();  // what changed while this page was loading, before it listened
}

async function showApprovals() {
  const stillShown = claim();
  const pending = await api("GET", "/v1/approvals?pending=true");
  const cards = pending.map((a) => {
    const approve = el("button", { "data-approve": a.id }, "Approve");
    const deny = el("button", { "data-deny": a.id }, "Deny");
    // afterwards, show whatever the address now says: the user may have moved on meanwhile
    approve.addEventListener("click", async () => { await api("POST", `/v1/approvals/${a.id}/approve`, {}); route(); });
    deny.addEventListener("click", async () => { await api("POST", `/v1/approvals/${a.id}/deny`, {}); route(); });
    const preview = typeof a.preview === "string" ? a.preview : JSON.stringify(a.preview, null, 2);
    return el("div", { class: "card", "data-approval": a.id },
      el("h3", {}, `#${a.id} · pid ${a.pid} (${a.agent}) wants ${a.tool} · risk ${a.risk}`),
      el("p", {}, a.why || ""), el("pre", {}, JSON.stringify(a.arguments, null, 2)),
      a.preview == null ? "" : el("div", {}, el("h4", {}, "What it would change"), el("pre", {}, preview)),
      approve, deny);
  });
  if (!stillShown()) return;
  view.replaceChildren(el("h2", {}, "Waiting for you"), ...(cards.length ? cards : [el("p", {}, "Nothing waits.")]));
  current = (event) => { if (event.kind.startsWith("approval_")) route(); };
}

async function showMemory(query) {
  const stillShown = claim();
  const input = el("input", { type: "text", placeholder: "Search memory", value: query || "" });
  const form = el("form", { class: "inline" }, input, el("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (event) => { event.preventDefault(); showMemory(input.value); });
  let items;
  try {
    items = query ? (await api("GET", "/v1/memory/search?q=" + encodeURIComponent(query))).map((h) => h.item)
      : await api("GET", "/v1/memory?limit=100");
  } catch (e) {
    if (stillShown()) view.replaceChildren(el("p", { class: "error" }, e.message));
    return;
  }
  const rows = items.map((m) => {
    const forget = el("button", {}, "Forget");
    forget.addEventListener("click", async () => {
      await api("DELETE", "/v1/memory/" + m.id);
      if (location.hash === "#/memory") showMemory(query);
    });
    return el("tr", {}, el("td", {}, m.id), el("td", {}, m.agent), el("td", {}, m.tier), el("td", {}, m.kind),
      el("td", {}, m.text.slice(0, 200)), el("td", {}, forget));
  });
  if (!stillShown()) return;
  view.replaceChildren(form, el("table", {}, el("thead", {}, el("tr", {},
    ["id", "agent", "tier", "kind", "text", ""].map((h) => el("th", {}, h)))), el("tbody", {}, rows)));
  current = () => {};
}

async function showKV() {
  const stillShown = claim();
  const engines = await api("GET", "/v1/kv");
  const tables = engines.map((e) => el("div", {}, el("h3", {}, e.engine), el("table", {},
    el("thead", {}, el("tr", {}, ["pid", "state", "tokens", "cells", "host bytes", "deadline"].map((h) => el("th", {}, h)))),
    el("tbody", {}, e.entries.map((k) => el("tr", {}, el("td", {}, k.owner), el("td", {}, k.state),
      el("td", { class: "num" }, k.tokens), el("td", { class: "num" }, k.cells),
      el("td", { class: "num" }, k.host_bytes), el("td", {}, k.deadline_in_s == null ? "-" : k.deadline_in_s.toFixed(1) + " s")))))));
  if (!stillShown()) return;
  view.replaceChildren(...(tables.length ? tables : [el("p", {}, "No engine is loaded yet.")]));
  current = () => {};
}

function route() {
  const hash = location.hash || "#/";
  const match = hash.match(/^#\/p\/(\d+)$/);
  const rendering = match ? showProcess(Number(match[1]))
    : hash === "#/approvals" ? showApprovals()
    : hash === "#/memory" ? showMemory("")
    : hash === "#/kv" ? showKV() : showProcesses();
  rendering.catch((e) => view.replaceChildren(el("p", { class: "error" }, e.message)));
}

async function updatePending() {
  const pending = await api("GET", "/v1/approvals?pending=true").catch(() => []);
  document.getElementById("pending-count").textContent = pending.length ? `(${pending.length})` : "";
}

function listen() {
  if (stream) stream.close();
  stream = new EventSource("/v1/events");  // the session cookie goes along; the browser resumes with Last-Event-ID
  const handle = (message) => {
    const event = JSON.parse(message.data);
    if (event.kind.startsWith("approval_")) updatePending();
    current(event);
  };
  for (const kind of ["spawned", "resumed", "syscall_started", "syscall_finished", "syscall_queued", "llm_output",
    "syscall_preempted", "approval_requested", "approval_decided", "exited"]) stream.addEventListener(kind, handle);
}

async function start() {
  try {
    await api("GET", "/v1/processes?limit=1");
  } catch (e) {
    return;
  }
  document.getElementById("logout").hidden = false;
  listen();
  updatePending();
  route();
}

window.addEventListener("hashchange", route);
start();
