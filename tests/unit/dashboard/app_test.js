// The rendering functions of the dashboard's app.js, run under node by test_app_js.py.
// Each check prints "ok <name>"; the first failure throws and exits non-zero.
"use strict";

const assert = require("node:assert/strict");
const path = require("node:path");

const render = require(path.resolve(process.argv[2]));

const checks = [];
function check(name, fn) {
  checks.push([name, fn]);
}

const row = (over) => ({
  kind: "Kustomization",
  namespace: "ns",
  name: "apps",
  ready: "True",
  reason: "ReconciliationSucceeded",
  message: "Applied revision: main@sha1:abc",
  revision: "main@sha1:abc",
  suspended: false,
  drifted: false,
  created: "2026-01-02T11:55:00Z",
  age: "5m",
  ...over,
});
const NOW = Date.parse("2026-01-02T12:00:00Z");

check("text from the cluster is escaped, never markup", () => {
  const html = render.rowsHtml([row({ name: "<img src=x onerror=alert(1)>", message: '"&\'' })], NOW);
  assert.ok(!html.includes("<img"));
  assert.ok(html.includes("&lt;img src=x onerror=alert(1)&gt;"));
  assert.ok(html.includes("&quot;&amp;&#39;"));
  assert.ok(html.includes('href="#/Kustomization/ns/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"'));
});

check("rows are coloured by state, suspended first", () => {
  assert.equal(render.stateOf(row({})), "ready");
  assert.equal(render.stateOf(row({ ready: "False" })), "notReady");
  assert.equal(render.stateOf(row({ ready: "Unknown" })), "unknown");
  assert.equal(render.stateOf(row({ ready: "False", suspended: true })), "suspended");
  const html = render.rowsHtml([row({ ready: "False" }), row({ drifted: true, name: "b" })], NOW);
  assert.match(html, /<tr class="row-notReady">/);
  assert.match(html, /badge state-drifted">Drifted</);
  assert.match(html, /<td>5m<\/td>/);
});

check("the filter matches kind, state, drift and text", () => {
  const rows = [
    row({}),
    row({ name: "web", ready: "False", message: "health check failed" }),
    row({ kind: "GitRepository", name: "repo", suspended: true }),
    row({ name: "guarded", drifted: true }),
  ];
  const names = (f) => render.filterRows(rows, f).map((r) => r.name);
  assert.deepEqual(names({}), ["apps", "web", "repo", "guarded"]);
  assert.deepEqual(names({ kind: "GitRepository" }), ["repo"]);
  assert.deepEqual(names({ state: "notReady" }), ["web"]);
  assert.deepEqual(names({ state: "suspended" }), ["repo"]);
  assert.deepEqual(names({ state: "drifted" }), ["guarded"]);
  assert.deepEqual(names({ text: "HEALTH" }), ["web"]);
  assert.equal(render.rowsHtml([], NOW), "<p>No objects match.</p>");
});

check("ages read like kubectl's", () => {
  const at = (s) => render.age("2026-01-02T12:00:00Z", Date.parse("2026-01-02T12:00:00Z") + s * 1000);
  assert.equal(at(45), "45s");
  assert.equal(at(330), "5m30s");
  assert.equal(at(42 * 60), "42m");
  assert.equal(at(4 * 3600 + 12 * 60), "4h12m");
  assert.equal(at(3 * 86400 + 4 * 3600), "3d4h");
  assert.equal(render.age("never", NOW), "-");
});

check("hash routes name one object", () => {
  assert.deepEqual(render.parseHash("#/Kustomization/flux-system/apps"), {
    kind: "Kustomization",
    namespace: "flux-system",
    name: "apps",
  });
  assert.equal(render.parseHash("#objects-heading"), null);
  assert.equal(render.parseHash(""), null);
  assert.equal(render.parseHash("#/Kustomization/ns"), null);
  const href = render.objectHref("Kustomization", "ns", "a/b");
  assert.deepEqual(render.parseHash(href), { kind: "Kustomization", namespace: "ns", name: "a/b" });
});

check("the overview shows every kind with its counts", () => {
  const html = render.overviewHtml(
    { Kustomization: { total: 3, ready: 1, notReady: 1, suspended: 1, drifted: 1 } },
    ["GitRepository", "Kustomization"],
  );
  assert.match(html, /<caption>/);
  assert.match(html, /<th scope="row">GitRepository<\/th><td>0<\/td>/);
  assert.match(html, /<th scope="row">Kustomization<\/th><td>3<\/td><td class="state-ready">1<\/td>/);
});

check("the inventory tree nests and shows health", () => {
  const html = render.treeHtml([
    {
      kind: "Kustomization",
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      namespace: "ns",
      name: "child",
      health: { status: "Current", message: "Resource is current" },
      resources: [
        { kind: "Deployment", apiVersion: "apps/v1", namespace: "ns", name: "web", health: { status: "Failed", message: "crash" }, resources: [] },
      ],
    },
    { kind: "Namespace", apiVersion: "v1", namespace: "", name: "apps", health: { status: "NotFound", message: "" }, resources: [] },
  ]);
  assert.match(html, /^<ul class="tree"><li><a href="#\/Kustomization\/ns\/child">Kustomization\/ns\/child<\/a>/);
  assert.match(html, /<ul class="tree"><li>Deployment\/ns\/web <span class="badge state-notReady">Failed<\/span>/);
  assert.match(html, /<li>Namespace\/apps <span class="badge state-notReady">NotFound/);
  assert.equal(render.treeHtml([]), "<p>Nothing applied.</p>");
});

check("conditions and events render as tables", () => {
  const conds = render.conditionsHtml([
    { type: "Ready", status: "False", reason: "BuildFailed", message: "bad", lastTransitionTime: "t" },
    { type: "Drifted", status: "True", reason: "Protected", message: "guarded", lastTransitionTime: "t" },
  ]);
  assert.match(conds, /<th scope="row">Ready<\/th><td><span class="badge state-notReady">False/);
  assert.match(conds, /<th scope="row">Drifted<\/th><td><span class="badge state-notReady">True/);
  const events = render.eventsHtml(
    [{ time: "t", type: "Warning", reason: "BuildFailed", kind: "Kustomization", namespace: "ns", name: "a", message: "<b>" }],
    true,
  );
  assert.match(events, /Warning/);
  assert.match(events, /&lt;b&gt;/);
  assert.match(events, /href="#\/Kustomization\/ns\/a"/);
  assert.equal(render.specHtml({ path: "./apps" }), '<dl class="spec"><dt>path</dt><dd>./apps</dd></dl>');
});

check("stream messages update the rows and counts in place", () => {
  const kinds = ["GitRepository", "Kustomization"];
  const state = { rows: [row({})], kinds, overview: {}, events: [], detail: { kind: "Kustomization", namespace: "ns", name: "apps" } };
  let todo = render.applyMessage(state, { type: "object", object: row({ ready: "False" }) });
  assert.deepEqual(todo, { objects: true, detail: true });
  assert.equal(state.rows.length, 1);
  assert.equal(state.rows[0].ready, "False");
  assert.equal(state.overview.Kustomization.notReady, 1);

  todo = render.applyMessage(state, { type: "object", object: row({ kind: "GitRepository", name: "repo" }) });
  assert.deepEqual(todo, { objects: true, detail: false });
  assert.equal(state.overview.GitRepository.ready, 1);

  render.applyMessage(state, { type: "deleted", kind: "GitRepository", namespace: "ns", name: "repo" });
  assert.equal(state.rows.length, 1);
  assert.equal(state.overview.GitRepository.total, 0);

  todo = render.applyMessage(state, { type: "event", event: { kind: "Kustomization", namespace: "ns", name: "apps" } });
  assert.deepEqual(todo, { events: true, detail: true });
  assert.equal(state.events.length, 1);

  todo = render.applyMessage(state, { type: "managed", kind: "Deployment", namespace: "ns", name: "web", owner: { namespace: "ns", name: "apps" } });
  assert.deepEqual(todo, { detail: true });
  assert.deepEqual(render.applyMessage(state, { type: "resync" }), { reload: true });
});

for (const [name, fn] of checks) {
  fn();
  console.log(`ok ${name}`);
}
console.log(`${checks.length} checks passed`);
