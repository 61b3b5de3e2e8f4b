"use strict";
// The memory console: reads /ui/api, renders with DOM nodes and textContent only (memories and prompts are
// other people's text, never markup), and refreshes the overview and the request list every few seconds.

const REFRESH_MS = 5000;
const state = { client: null, query: "", request: null, namespaces: [] };

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "className") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// Loads of one kind (the overview, the request list, a client's memories) can overlap: a click while a
// refresh is on its way, a slow answer for the client chosen before. Only the latest started may render.
const latestLoad = {};
function startLoad(kind) {
  const mine = (latestLoad[kind] = (latestLoad[kind] || 0) + 1);
  return () => latestLoad[kind] === mine;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

async function api(path, options = {}) {
  const response = await fetch(`/ui/api${path}`, { credentials: "same-origin", ...options });
  if (response.status === 401) {
    window.location.replace("/ui"); // the session ended: the sign-in page
    throw new Error("signed out");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(body.error?.message || `${response.status} ${response.statusText}`);
  }
  return body;
}

let problemSource = null;

function showProblem(error, source = null) {
  const problem = document.getElementById("problem");
  problem.textContent = error ? String(error.message || error) : "";
  problem.hidden = !error;
  problemSource = error ? source : null;
}

function ago(seconds) {
  if (!seconds) return "";
  const elapsed = Math.max(0, Date.now() / 1000 - seconds);
  if (elapsed < 60) return `${Math.round(elapsed)} s ago`;
  if (elapsed < 3600) return `${Math.round(elapsed / 60)} min ago`;
  if (elapsed < 86400) return `${Math.round(elapsed / 3600)} h ago`;
  return new Date(seconds * 1000).toLocaleDateString();
}

function when(seconds) {
  return el("time", { datetime: new Date(seconds * 1000).toISOString(), title: new Date(seconds * 1000).toLocaleString() }, ago(seconds));
}

function ms(value) {
  return value === null || value === undefined ? "" : value.toFixed(1);
}

// ---- overview: the proxy, clients, projects ------------------------------------------------------------

async function loadOverview() {
  const current = startLoad("overview");
  const overview = await api("/overview");
  if (!current()) return;
  document.getElementById("signout").hidden = !overview.key_required;
  const memory = overview.memory;
  const store = memory.store;
  const writeBack = memory.write_back;
  const facts = [
    ["version", overview.version],
    ["backend", overview.backend],
    ["memory", memory.enabled ? store.provider + (store.recall_mode ? ` (${store.recall_mode})` : "") : "off"],
    ["stored", `${writeBack.stored} exchanges in ${writeBack.batches} batches`],
    ["queued", String(writeBack.pending + writeBack.writing)],
    ...(overview.signed_in_as
      ? [["signed in as", overview.signed_in_as.person + (overview.signed_in_as.admin ? " (admin: everyone's memories)" : "")]]
      : []),
  ];
  if (writeBack.failed || writeBack.dropped) facts.push(["lost", `${writeBack.failed} failed, ${writeBack.dropped} dropped`]);
  if (store.problem) facts.push(["store problem", store.problem]);
  document.getElementById("facts").replaceChildren(...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));

  fill(
    document.querySelector("#clients tbody"),
    overview.clients.map((client) =>
      el(
        "tr",
        {
          dataset: { userId: client.user_id },
          className: client.user_id === state.client ? "selected" : "",
          onclick: () => guarded(() => selectClient(client.user_id)),
        },
        el("td", {}, el("button", { type: "button", className: "link" }, client.user_id)),
        el("td", { className: "number" }, client.memories ?? "?"),
        el("td", {}, when(Math.max(client.newest_memory_at || 0, client.last_request_at || 0))),
        el("td", { className: `kind ${client.kind}` }, client.kind),
      ),
    ),
  );
  state.namespaces = overview.clients.map((client) => client.user_id);
  document.getElementById("namespaces").replaceChildren(...state.namespaces.map((name) => el("option", { value: name })));
  const clientsNote = overview.clients.length ? overview.clients_problem || "" : "No client has memories or has sent a request yet.";
  document.getElementById("clients-note").textContent = clientsNote;

  fill(
    document.querySelector("#projects tbody"),
    overview.projects.map((project) =>
      el(
        "tr",
        { dataset: { port: project.port } },
        el("td", { title: project.path }, project.path),
        el("td", { className: "number" }, project.port),
        el("td", {}, el("button", { type: "button", className: "link", onclick: () => guarded(() => selectClient(project.user_id)) }, project.user_id)),
        el("td", {}, project.listening ? "listening" : "not running"),
      ),
    ),
  );
  document.getElementById("projects-note").textContent = overview.projects_problem
    ? overview.projects_problem
    : overview.projects.length
      ? ""
      : "No interceptor projects (memory-proxy interceptor run, in a project's folder, gives it one).";
}

// ---- one client's memories ------------------------------------------------------------------------------

async function selectClient(userId) {
  state.client = userId;
  state.query = "";
  document.getElementById("search-query").value = "";
  for (const row of document.querySelectorAll("#clients tbody tr")) {
    row.classList.toggle("selected", row.dataset.userId === userId);
  }
  await loadMemories();
}

async function loadMemories() {
  const current = startLoad("memories");
  const userId = state.client;
  const query = state.query;
  const title = document.getElementById("memory-title");
  const note = document.getElementById("memory-note");
  title.textContent = `Memories of ${userId}`;
  document.getElementById("search-form").hidden = false;
  const table = document.getElementById("memories");
  const forgetAll = document.getElementById("forget-all");
  const path = `/clients/${encodeURIComponent(userId)}`;
  let rows;
  if (query) {
    const found = await api(`${path}/search?q=${encodeURIComponent(query)}`);
    if (!current()) return;
    rows = found.results;
    const mode = found.recall_mode ? ` Recall is limited now: ${found.recall_mode}.` : "";
    note.textContent = `${rows.length} found for “${found.query}”, ranked as recall ranks them.${mode}`;
  } else {
    rows = (await api(`${path}/memories`)).memories;
    if (!current()) return;
    note.textContent = rows.length ? `${rows.length} memories, newest first.` : "No memories in this namespace.";
  }
  fill(
    table.querySelector("tbody"),
    rows.map((memory, index) =>
      el(
        "tr",
        { dataset: { memoryId: memory.id } },
        el("td", { className: "number" }, memory.rank ?? index + 1),
        el("td", {}, memory.signal ? el("span", { className: `signal ${memory.signal}`, title: `score ${memory.score.toFixed(3)}` }, memory.signal) : ""),
        el(
          "td",
          { className: "content" },
          // A file of the memory tool's /memories: its path above its text.
          memory.metadata?.memory_file ? el("div", { className: "file-path" }, memory.metadata.memory_file) : null,
          memory.content,
        ),
        el("td", {}, when(memory.created_at)),
        el(
          "td",
          { className: "row-actions" },
          el("button", { type: "button", className: "move", onclick: () => moveOne(userId, memory) }, "Move…"),
          el("button", { type: "button", className: "danger forget", onclick: () => forgetOne(userId, memory) }, "Forget"),
        ),
      ),
    ),
  );
  table.querySelector("thead th").textContent = query ? "Rank" : "#"; // a listing has no ranking
  table.hidden = false;
  forgetAll.hidden = rows.length === 0 || Boolean(query);
}

function confirmed(text) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

async function forgetOne(userId, memory) {
  // userId is the client whose list showed this memory, whichever client is chosen by the time it is confirmed.
  const preview = memory.content.length > 160 ? `${memory.content.slice(0, 160)}…` : memory.content;
  if (!(await confirmed(`Forget this memory of ${userId}?\n\n${preview}`))) return;
  await guarded(async () => {
    try {
      await api(`/clients/${encodeURIComponent(userId)}/memories/${encodeURIComponent(memory.id)}`, { method: "DELETE" });
    } finally {
      // Also when it failed (e.g. forgotten meanwhile elsewhere): show the store as it is now.
      await Promise.all([loadMemories(), loadOverview()]);
    }
  });
}

// Where a memory most likely belongs instead: a person's memory to the project it was said in, a project's
// to the person (the one person namespace the store knows, if there is exactly one).
function suggestedTarget(userId, memory) {
  if (userId.startsWith("person:")) return memory.metadata?.project || "";
  const people = state.namespaces.filter((name) => name.startsWith("person:"));
  return people.length === 1 ? people[0] : "";
}

async function moveOne(userId, memory) {
  const dialog = document.getElementById("move");
  const target = document.getElementById("move-to");
  const preview = memory.content.length > 160 ? `${memory.content.slice(0, 160)}…` : memory.content;
  document.getElementById("move-text").textContent = `Move this memory of ${userId} to another namespace?\n\n${preview}`;
  target.value = suggestedTarget(userId, memory);
  dialog.returnValue = "";
  dialog.showModal();
  const ok = await new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
  const to = target.value.trim();
  if (!ok || !to) return;
  await guarded(async () => {
    let moved = null;
    try {
      moved = await api(`/clients/${encodeURIComponent(userId)}/memories/${encodeURIComponent(memory.id)}/move`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ to }),
      });
    } finally {
      await Promise.all([loadMemories(), loadOverview()]);
    }
    document.getElementById("memory-note").textContent = `Moved to ${moved.to}.`;
  });
}

async function forgetAll() {
  const userId = state.client;
  if (!(await confirmed(`Forget every memory of ${userId}? This cannot be undone.`))) return;
  await guarded(async () => {
    const result = await api(`/clients/${encodeURIComponent(userId)}/memories`, { method: "DELETE" });
    await Promise.all([loadMemories(), loadOverview()]);
    document.getElementById("memory-note").textContent = `Forgot ${result.forgotten} memories.`;
  });
}

// ---- requests -------------------------------------------------------------------------------------------

async function loadRequests() {
  const current = startLoad("requests");
  const { requests } = await api("/requests");
  if (!current()) return;
  fill(
    document.querySelector("#requests tbody"),
    requests.map((request) =>
      el(
        "tr",
        {
          dataset: { requestId: request.id },
          className: request.id === state.request ? "selected" : "",
          onclick: () => guarded(() => openRequest(request.id)),
        },
        el("td", {}, when(request.at)),
        el("td", {}, request.user_id),
        el("td", {}, request.model ?? ""),
        // A request that failed shows why it failed (a provider's 400 is not "no matching memories").
        request.status_code >= 400 && request.error
          ? el("td", { className: "memory" }, el("span", { className: "status error" }, "failed"), ` ${request.error}`)
          : el(
              "td",
              { className: "memory" },
              request.memory_status ? el("span", { className: `status ${request.memory_status}` }, request.memory_status) : "",
              request.memory_reason ? ` ${request.memory_reason}` : request.error ? ` ${request.error}` : "",
            ),
        el("td", { className: "number" }, ms(request.recall_ms)),
        el("td", { className: "number" }, ms(request.upstream_ms)),
        el("td", { className: `number http${String(request.status_code)[0]}` }, request.status_code),
      ),
    ),
  );
  document.getElementById("requests-note").textContent = requests.length ? "" : "No requests since the proxy started.";
}

async function openRequest(requestId) {
  state.request = requestId;
  for (const row of document.querySelectorAll("#requests tbody tr")) {
    row.classList.toggle("selected", Number(row.dataset.requestId) === requestId);
  }
  const current = startLoad("request");
  const request = await api(`/requests/${requestId}`);
  if (!current()) return;
  const facts = [
    ["client", `${request.user_id} (${request.identified_by})`],
    ["API", request.surface === "messages" ? "Anthropic Messages" : "OpenAI chat completions"],
    ["model", request.model ?? "(not read)"],
    ["stream", request.stream ? "yes" : "no"],
    ["memory", request.memory_status ? `${request.memory_status}: ${request.memory_reason}` : "(ended before recall)"],
    ["recall query", request.query ?? ""],
    ["timings", `recall ${ms(request.recall_ms)} ms, upstream ${ms(request.upstream_ms)} ms, total ${ms(request.total_ms)} ms`],
    ["answer", `HTTP ${request.status_code}${request.error ? `: ${request.error}` : ""}`],
  ];
  const blocks = request.injected.length
    ? request.injected.map((block) =>
        el(
          "figure",
          { className: "injected" },
          el("figcaption", {}, block.where === "system" ? "in the system prompt" : `${block.where} of message ${block.message}`),
          el("pre", {}, block.text),
        ),
      )
    : [el("p", { className: "note" }, "No memory was injected into this request.")];
  document.getElementById("request-detail").replaceChildren(
    el("h3", {}, `Request ${request.id}`, el("button", { type: "button", className: "close", onclick: closeRequest }, "Close")),
    el("dl", {}, ...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)])),
    el("h4", {}, "Memory the provider saw"),
    ...blocks,
  );
  document.getElementById("request-detail").hidden = false;
}

function closeRequest() {
  state.request = null;
  document.getElementById("request-detail").hidden = true;
  for (const row of document.querySelectorAll("#requests tbody tr.selected")) row.classList.remove("selected");
}

// ---- wiring ---------------------------------------------------------------------------------------------

async function guarded(work, source = "action") {
  try {
    await work();
    // The timed refresh clears only a problem a refresh showed: one from a person's action (a forget that
    // failed) stays until their next action, instead of vanishing within REFRESH_MS.
    if (source !== "refresh" || problemSource === "refresh") showProblem(null);
  } catch (error) {
    if (error.message !== "signed out") showProblem(error, source);
  }
}

async function refresh() {
  await guarded(() => Promise.all([loadOverview(), loadRequests()]), "refresh");
}

document.getElementById("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.query = document.getElementById("search-query").value.trim();
  guarded(loadMemories);
});
document.getElementById("search-clear").addEventListener("click", () => {
  state.query = "";
  document.getElementById("search-query").value = "";
  guarded(loadMemories);
});
document.getElementById("forget-all").addEventListener("click", forgetAll);
document.getElementById("refresh").addEventListener("click", () => {
  refresh();
  if (state.client) guarded(loadMemories);
});
document.getElementById("signout").addEventListener("click", async () => {
  await fetch("/ui/signout", { method: "POST", credentials: "same-origin" });
  window.location.replace("/ui");
});

// The next timed refresh is planned when this one has finished: a slow proxy never has them pile up.
async function refreshForever() {
  await refresh();
  setTimeout(refreshForever, REFRESH_MS);
}
refreshForever();
