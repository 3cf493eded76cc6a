// The kidp dashboard: renders the JSON API and follows /api/v1/stream.
//
// The functions in `render` are pure (data in, escaped HTML out) so they run under node
// in the unit tests; `start` wires them to the page. No framework, no build step, no
// network beyond this server.
"use strict";

const render = (() => {
  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

  function esc(value) {
    return String(value === undefined || value === null ? "" : value).replace(
      /[&<>"']/g,
      (c) => ESCAPES[c],
    );
  }

  // One word for a row's state: what the colours and the state filter use.
  function stateOf(row) {
    if (row.suspended) return "suspended";
    if (row.ready === "True") return "ready";
    if (row.ready === "False") return "notReady";
    return "unknown";
  }

  const STATE_LABELS = {
    ready: "Ready",
    notReady: "Not ready",
    suspended: "Suspended",
    unknown: "Unknown",
  };

  function badge(state, text) {
    return `<span class="badge state-${esc(state)}">${esc(text || STATE_LABELS[state] || state)}</span>`;
  }

  function objectHref(kind, namespace, name) {
    return `#/${encodeURIComponent(kind)}/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
  }

  function parseHash(hash) {
    const parts = (hash || "").replace(/^#\/?/, "").split("/");
    if (!hash || !hash.startsWith("#/") || parts.length !== 3 || parts.some((p) => !p)) {
      return null;
    }
    const [kind, namespace, name] = parts.map(decodeURIComponent);
    return { kind, namespace, name };
  }

  function matches(row, filter) {
    if (filter.kind && row.kind !== filter.kind) return false;
    if (filter.state === "drifted") {
      if (!row.drifted) return false;
    } else if (filter.state && stateOf(row) !== filter.state) {
      return false;
    }
    const text = (filter.text || "").trim().toLowerCase();
    if (!text) return true;
    return [row.kind, row.namespace, row.name, row.revision, row.message, row.reason]
      .join(" ")
      .toLowerCase()
      .includes(text);
  }

  function filterRows(rows, filter) {
    return rows.filter((row) => matches(row, filter));
  }

  // kubectl's short age: 45s, 5m30s, 42m, 4h12m, 20h, 3d4h, 40d.
  function age(created, now) {
    const then = Date.parse(created);
    if (Number.isNaN(then)) return "-";
    const s = Math.max(0, Math.floor((now - then) / 1000));
    const m = Math.floor(s / 60);
    const h = Math.floor(s / 3600);
    const d = Math.floor(s / 86400);
    if (s < 120) return `${s}s`;
    if (m < 10) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
    if (h < 3) return `${m}m`;
    if (h < 8) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
    if (h < 48) return `${h}h`;
    if (d < 8) return h % 24 ? `${d}d${h % 24}h` : `${d}d`;
    return `${d}d`;
  }

  function overviewHtml(overview, kinds) {
    const head =
      "<tr><th scope=\"col\">Kind</th><th scope=\"col\">Total</th><th scope=\"col\">Ready</th>" +
      "<th scope=\"col\">Not ready</th><th scope=\"col\">Suspended</th><th scope=\"col\">Drifted</th></tr>";
    const body = kinds
      .map((kind) => {
        const c = overview[kind] || {};
        const cell = (key, cls) =>
          `<td class="${c[key] ? cls : ""}">${esc(c[key] || 0)}</td>`;
        return (
          `<tr><th scope="row">${esc(kind)}</th><td>${esc(c.total || 0)}</td>` +
          cell("ready", "state-ready") +
          cell("notReady", "state-notReady") +
          cell("suspended", "state-suspended") +
          cell("drifted", "state-drifted") +
          "</tr>"
        );
      })
      .join("");
    return `<table class="overview"><caption>Objects per kind and state</caption><thead>${head}</thead><tbody>${body}</tbody></table>`;
  }

  function rowsHtml(rows, now) {
    if (!rows.length) return "<p>No objects match.</p>";
    const head = ["Kind", "Namespace", "Name", "Ready", "Revision", "Suspended", "Drifted", "Age", "Message"]
      .map((h) => `<th scope="col">${h}</th>`)
      .join("");
    const body = rows
      .map((r) => {
        const state = stateOf(r);
        return (
          `<tr class="row-${esc(state)}">` +
          `<td>${esc(r.kind)}</td><td>${esc(r.namespace)}</td>` +
          `<td><a href="${esc(objectHref(r.kind, r.namespace, r.name))}">${esc(r.name)}</a></td>` +
          `<td>${badge(state)}${r.reason ? ` <span class="reason">${esc(r.reason)}</span>` : ""}</td>` +
          `<td class="revision">${esc(r.revision)}</td>` +
          `<td>${r.suspended ? "yes" : "no"}</td>` +
          `<td>${r.drifted ? badge("drifted", "Drifted") : "no"}</td>` +
          `<td>${esc(r.created ? age(r.created, now) : r.age || "-")}</td>` +
          `<td class="message">${esc(r.message)}</td></tr>`
        );
      })
      .join("");
    return `<table class="objects"><caption class="visually-hidden">GitOps objects</caption><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
  }

  // Ready=True is good, Ready=False, Stalled=True and Drifted=True are bad, the rest neutral.
  function conditionState(c) {
    if (c.type === "Ready") return c.status === "True" ? "ready" : c.status === "False" ? "notReady" : "unknown";
    if ((c.type === "Stalled" || c.type === "Drifted") && c.status === "True") return "notReady";
    return "unknown";
  }

  function conditionsHtml(conditions) {
    if (!conditions.length) return "<p>No conditions yet: not reconciled.</p>";
    const body = conditions
      .map((c) => {
        const state = conditionState(c);
        return (
          `<tr><th scope="row">${esc(c.type)}</th><td>${badge(state, c.status)}</td>` +
          `<td>${esc(c.reason)}</td><td class="message">${esc(c.message)}</td>` +
          `<td>${esc(c.lastTransitionTime)}</td></tr>`
        );
      })
      .join("");
    return (
      "<table><thead><tr><th scope=\"col\">Type</th><th scope=\"col\">Status</th><th scope=\"col\">Reason</th>" +
      `<th scope="col">Message</th><th scope="col">Since</th></tr></thead><tbody>${body}</tbody></table>`
    );
  }

  function specHtml(spec) {
    const keys = Object.keys(spec);
    if (!keys.length) return "<p>Empty spec.</p>";
    return `<dl class="spec">${keys
      .map((k) => `<dt>${esc(k)}</dt><dd>${esc(spec[k])}</dd>`)
      .join("")}</dl>`;
  }

  const HEALTH_STATES = {
    Current: "ready",
    InProgress: "unknown",
    Failed: "notReady",
    Terminating: "unknown",
    NotFound: "notReady",
    Unknown: "unknown",
  };

  function treeNodeHtml(node) {
    const where = node.namespace ? `${node.namespace}/` : "";
    const label = `${node.kind}/${where}${node.name}`;
    const health = node.health || { status: "Unknown", message: "" };
    const link =
      node.kind === "Kustomization" && node.apiVersion.startsWith("kustomize.toolkit.fluxcd.io/")
        ? `<a href="${esc(objectHref(node.kind, node.namespace, node.name))}">${esc(label)}</a>`
        : esc(label);
    const children = node.resources && node.resources.length ? treeHtml(node.resources) : "";
    return (
      `<li>${link} ${badge(HEALTH_STATES[health.status] || "unknown", health.status)}` +
      `${health.message ? ` <span class="message">${esc(health.message)}</span>` : ""}${children}</li>`
    );
  }

  function treeHtml(nodes) {
    if (!nodes.length) return "<p>Nothing applied.</p>";
    return `<ul class="tree">${nodes.map(treeNodeHtml).join("")}</ul>`;
  }

  function eventsHtml(events, withObject) {
    if (!events.length) return "<p>No events.</p>";
    const head = ["Time", "Type", "Reason", ...(withObject ? ["Object"] : []), "Message"]
      .map((h) => `<th scope="col">${h}</th>`)
      .join("");
    const body = events
      .map((e) => {
        const object = withObject
          ? `<td><a href="${esc(objectHref(e.kind, e.namespace, e.name))}">${esc(`${e.kind}/${e.namespace}/${e.name}`)}</a></td>`
          : "";
        const type = e.type === "Warning" ? badge("notReady", "Warning") : esc(e.type);
        return (
          `<tr><td>${esc(e.time)}</td><td>${type}</td><td>${esc(e.reason)}</td>${object}` +
          `<td class="message">${esc(e.message)}</td></tr>`
        );
      })
      .join("");
    return `<table class="events"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
  }

  // The state after one stream message: rows replaced or removed in place, counts
  // recomputed, events prepended. Returns what the page must redraw.
  function applyMessage(state, message) {
    const same = (r, m) => r.kind === m.kind && r.namespace === m.namespace && r.name === m.name;
    if (message.type === "object") {
      const row = message.object;
      const i = state.rows.findIndex((r) => same(r, row));
      if (i >= 0) state.rows[i] = row;
      else state.rows.push(row);
      state.overview = countRows(state.rows, state.kinds);
      return { objects: true, detail: isShown(state, row) };
    }
    if (message.type === "deleted") {
      state.rows = state.rows.filter((r) => !same(r, message));
      state.overview = countRows(state.rows, state.kinds);
      return { objects: true, detail: isShown(state, message) };
    }
    if (message.type === "event") {
      state.events = [message.event, ...state.events].slice(0, 200);
      return { events: true, detail: isShown(state, message.event) };
    }
    if (message.type === "managed") {
      const owner = message.owner || {};
      return {
        detail: isShown(state, { kind: "Kustomization", namespace: owner.namespace, name: owner.name }),
      };
    }
    if (message.type === "resync") return { reload: true };
    return {};
  }

  function isShown(state, ref) {
    const d = state.detail;
    return Boolean(d && d.kind === ref.kind && d.namespace === ref.namespace && d.name === ref.name);
  }

  function countRows(rows, kinds) {
    const counts = {};
    for (const kind of kinds) {
      counts[kind] = { total: 0, ready: 0, notReady: 0, suspended: 0, drifted: 0 };
    }
    for (const r of rows) {
      const c = counts[r.kind];
      if (!c) continue;
      c.total += 1;
      const s = r.suspended ? "suspended" : r.ready === "True" ? "ready" : "notReady";
      c[s] += 1;
      if (r.drifted) c.drifted += 1;
    }
    return counts;
  }

  return {
    esc,
    stateOf,
    parseHash,
    objectHref,
    filterRows,
    age,
    overviewHtml,
    rowsHtml,
    conditionsHtml,
    specHtml,
    treeHtml,
    eventsHtml,
    applyMessage,
    countRows,
  };
})();

function start() {
  const $ = (id) => document.getElementById(id);
  const state = { rows: [], overview: {}, kinds: [], events: [], detail: null, actions: false };

  async function getJson(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.error || `${response.status} ${response.statusText}`);
    }
    return response.json();
  }

  function filter() {
    return { text: $("filter-text").value, kind: $("filter-kind").value, state: $("filter-state").value };
  }

  function drawObjects() {
    const shown = render.filterRows(state.rows, filter());
    $("overview").innerHTML = render.overviewHtml(state.overview, state.kinds);
    $("objects").innerHTML = render.rowsHtml(shown, Date.now());
    $("objects-count").textContent = `${shown.length} of ${state.rows.length} objects`;
  }

  function drawEvents() {
    $("events").innerHTML = render.eventsHtml(state.events.slice(0, 50), true);
  }

  async function loadAll() {
    const [objects, events] = await Promise.all([getJson("/api/v1/objects"), getJson("/api/v1/events")]);
    state.rows = objects.items;
    state.overview = objects.overview;
    state.actions = objects.actions;
    $("actions-warning").hidden = !objects.actions;
    $("detail-actions").hidden = !objects.actions;
    if (!state.kinds.length) {
      state.kinds = objects.kinds;
      for (const kind of state.kinds) $("filter-kind").add(new Option(kind, kind));
    }
    state.events = events.items;
    drawObjects();
    drawEvents();
  }

  async function loadDetail(focus) {
    const ref = state.detail;
    if (!ref) return;
    const url = `/api/v1/objects/${render.objectHref(ref.kind, ref.namespace, ref.name).slice(2)}`;
    try {
      const d = await getJson(url);
      $("detail-heading").textContent = `${d.kind} ${d.namespace}/${d.name}`;
      $("detail-summary").innerHTML = render.rowsHtml([d], Date.now());
      $("detail-conditions").innerHTML = render.conditionsHtml(d.conditions);
      $("detail-spec").innerHTML = render.specHtml(d.spec);
      $("detail-inventory").innerHTML =
        d.kind === "Kustomization" ? render.treeHtml(d.inventory) : "<p>Only Kustomizations keep an inventory.</p>";
      $("detail-events").innerHTML = render.eventsHtml(d.events, false);
      $("detail-actions").hidden = !state.actions;
    } catch (err) {
      $("detail-heading").textContent = `${ref.kind} ${ref.namespace}/${ref.name}`;
      $("detail-summary").innerHTML = `<p class="error">${render.esc(err.message)}</p>`;
    }
    if (focus) $("detail-heading").focus();
  }

  function route() {
    state.detail = render.parseHash(location.hash);
    $("detail").hidden = !state.detail;
    $("home").hidden = Boolean(state.detail);
    if (state.detail) loadDetail(true);
  }

  async function act(action) {
    const ref = state.detail;
    if (!ref) return;
    const url = `/api/v1/objects/${render.objectHref(ref.kind, ref.namespace, ref.name).slice(2)}/${action}`;
    $("action-result").textContent = `${action}…`;
    const response = await fetch(url, { method: "POST", headers: { "X-Requested-By": "kidp-dashboard" } });
    const body = await response.json().catch(() => ({}));
    $("action-result").textContent = response.ok ? `${action}: requested` : `${action} failed: ${body.error || response.status}`;
  }

  function handle(message) {
    const todo = render.applyMessage(state, message);
    if (todo.reload) reload();
    if (todo.objects) drawObjects();
    if (todo.events) drawEvents();
    if (todo.detail || todo.reload) loadDetail(false);
  }

  // A full load, with the stream's messages held until it is in: a message about a
  // change the load's answer predates must still win.
  let pending = null;
  function reload() {
    if (pending) return;
    pending = [];
    loadAll()
      .catch(() => {})
      .finally(() => {
        const held = pending;
        pending = null;
        for (const message of held) handle(message);
      });
  }

  function follow() {
    const source = new EventSource("/api/v1/stream");
    source.onopen = () => {
      $("connection").textContent = "live";
      $("connection").className = "connection live";
      reload();
    };
    source.onerror = () => {
      $("connection").textContent = "disconnected: retrying";
      $("connection").className = "connection offline";
    };
    source.onmessage = (e) => {
      const message = JSON.parse(e.data);
      if (pending) pending.push(message);
      else handle(message);
    };
  }

  $("filters").addEventListener("input", drawObjects);
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  for (const button of document.querySelectorAll("#detail-actions button")) {
    button.addEventListener("click", () => act(button.dataset.action));
  }
  window.addEventListener("hashchange", route);
  getJson("/api/v1/info")
    .then((info) => {
      $("version").textContent = `kidp ${info.version}`;
    })
    .catch(() => {});
  loadAll().catch((err) => {
    $("objects").innerHTML = `<p class="error">${render.esc(err.message)}</p>`;
  });
  route();
  follow();
  // Ages move on without any change to the objects.
  setInterval(drawObjects, 30000);
}

if (typeof module !== "undefined" && module.exports) {
  module.exports = render;
} else {
  document.addEventListener("DOMContentLoaded", start);
}
