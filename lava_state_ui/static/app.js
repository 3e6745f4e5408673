// lava-state ui: the realm's items, live. Read-only; the DOM is built with
// textContent only (never innerHTML): ids, publishers and values are data, not markup.
"use strict";

const rows = new Map(); // state_id -> row (metadata from /api/items or a change)
const trs = new Map(); // state_id -> <tr> shown
const countdowns = new WeakMap(); // <tr> -> its "expires in" cell
let sortKey = "state_id";
let sortDir = 1;
let selected = null;
const MAX_CHANGES = 100;
const HIGHLIGHT_MS = 2000;

const $ = (id) => document.getElementById(id);
const tbody = document.querySelector("#items tbody");

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function nowSeconds() {
  return Date.now() / 1000;
}

function expiresIn(ttl) {
  if (ttl === null || ttl === undefined) return "never";
  let left = Math.max(0, Math.ceil(ttl - nowSeconds()));
  const days = Math.floor(left / 86400);
  left %= 86400;
  const hours = Math.floor(left / 3600);
  left %= 3600;
  const minutes = Math.floor(left / 60);
  const seconds = left % 60;
  if (days) return `${days}d ${hours}h`;
  if (hours) return `${hours}h ${minutes}m`;
  if (minutes) return `${minutes}m ${seconds}s`;
  return `${seconds}s`;
}

// Local time, compact and sortable: 2026-12-01 02:57:33.
function localTime(when) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())} ` +
    `${pad(when.getHours())}:${pad(when.getMinutes())}:${pad(when.getSeconds())}`;
}

function updated(timestamp) {
  if (!timestamp) return "";
  const when = new Date(timestamp);
  return Number.isNaN(when.getTime()) ? timestamp : localTime(when);
}

function compare(a, b) {
  let x = a[sortKey];
  let y = b[sortKey];
  if (sortKey === "ttl") {
    x = x ?? Infinity;
    y = y ?? Infinity;
  }
  if (x === y) return a.state_id < b.state_id ? -1 : a.state_id > b.state_id ? 1 : 0;
  if (x === null || x === undefined) return 1;
  if (y === null || y === undefined) return -1;
  return (x < y ? -1 : 1) * sortDir;
}

function visible(row) {
  return row.state_id.startsWith($("filter").value);
}

function live(row) {
  return row.ttl === null || row.ttl === undefined || row.ttl > nowSeconds();
}

function makeTr(row) {
  const tr = document.createElement("tr");
  const id = el("td");
  const button = el("button", row.state_id, "id");
  button.type = "button";
  button.addEventListener("click", () => select(row.state_id));
  id.append(button);
  tr.append(
    id,
    el("td", row.type),
    el("td", row.version, "num"),
    el("td", row.publisher ?? ""),
    el("td", updated(row.timestamp)),
  );
  const expires = el("td", expiresIn(row.ttl), "expires");
  tr.append(expires);
  countdowns.set(tr, expires);
  tr.dataset.id = row.state_id;
  if (row.state_id === selected) tr.classList.add("selected");
  return tr;
}

function render() {
  trs.clear();
  const shown = [...rows.values()].filter(visible).sort(compare);
  const fragment = document.createDocumentFragment();
  for (const row of shown) {
    const tr = makeTr(row);
    trs.set(row.state_id, tr);
    fragment.append(tr);
  }
  tbody.replaceChildren(fragment);
  for (const th of document.querySelectorAll("#items th")) {
    th.classList.toggle("sorted-asc", th.dataset.key === sortKey && sortDir === 1);
    th.classList.toggle("sorted-desc", th.dataset.key === sortKey && sortDir === -1);
  }
  showCount(shown.length);
}

function showCount(shown) {
  $("count").textContent = `${shown} of ${rows.size} items`;
  $("empty").hidden = shown !== 0;
  document.body.dataset.count = String(shown);
}

// Put a row where the sort order says, or take it out (filtered, deleted, expired).
function place(row) {
  const old = trs.get(row.state_id);
  if (old) old.remove();
  trs.delete(row.state_id);
  if (!visible(row)) return null;
  const tr = makeTr(row);
  let before = null;
  for (const [, other] of trs) {
    if (compare(row, rows.get(other.dataset.id)) < 0 &&
        (before === null || compare(rows.get(other.dataset.id), rows.get(before.dataset.id)) < 0)) {
      before = other;
    }
  }
  tbody.insertBefore(tr, before);
  trs.set(row.state_id, tr);
  return tr;
}

function forget(stateId) {
  rows.delete(stateId);
  const tr = trs.get(stateId);
  if (tr) tr.remove();
  trs.delete(stateId);
  showCount(trs.size);
}

// Every second: count down, and take out what expired (DynamoDB deletes it days later).
function tick() {
  for (const [stateId, tr] of trs) {
    const row = rows.get(stateId);
    if (!live(row)) {
      forget(stateId);
      continue;
    }
    if (row.ttl === null || row.ttl === undefined) continue;
    // Text is written only when it changes: a realm of 10,000 rows ticks in a few ms.
    const text = expiresIn(row.ttl);
    const cell = countdowns.get(tr);
    if (cell.textContent !== text) cell.textContent = text;
    const soon = row.ttl - nowSeconds() < 60;
    if (soon !== tr.classList.contains("soon")) tr.classList.toggle("soon", soon);
  }
  for (const [stateId, row] of rows) if (!live(row)) rows.delete(stateId);
}

async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await response.json();
  return { status: response.status, body };
}

async function load() {
  const { status, body } = await getJson("/api/items");
  performance.mark("lava-listed");
  if (status !== 200) {
    $("count").textContent = body.error ?? `listing failed (${status})`;
    return;
  }
  $("realm").textContent = body.realm;
  document.title = `lava-state: ${body.realm}`;
  rows.clear();
  for (const row of body.items) if (live(row)) rows.set(row.state_id, row);
  render();
  performance.mark("lava-rows");
  document.body.dataset.loaded = "true";
}

function changeLine(change) {
  const li = el("li");
  const when = new Date(change.seen * 1000).toLocaleTimeString();
  li.append(
    el("span", `${when} `, "muted"),
    el("span", change.kind, `kind-${change.kind}`),
    document.createTextNode(" "),
    el("span", change.state_id),
    el("span", ` v${change.version}`, "muted"),
  );
  if (change.publisher) li.append(el("span", ` by ${change.publisher}`, "muted"));
  if (change.origin !== "notification") li.append(el("span", ` (${change.origin} read)`, "muted"));
  return li;
}

function highlight(tr) {
  // The Web Animations API, not a restarted CSS animation: restarting one forces a
  // layout of the whole table (tens of ms at 10,000 rows) before the row can show.
  tr.classList.add("flash");
  tr.animate([{ backgroundColor: "#fff3bf" }, { backgroundColor: "transparent" }], {
    duration: HIGHLIGHT_MS,
    easing: "ease-out",
  });
  // When the frame showing it is drawn (epoch ms): what the browser tests and
  // bench/bench_ui.py measure.
  requestAnimationFrame(() => {
    tr.dataset.highlightedAt = String(performance.timeOrigin + performance.now());
  });
  clearTimeout(tr.flashTimer);
  tr.flashTimer = setTimeout(() => tr.classList.remove("flash"), HIGHLIGHT_MS);
}

function apply(change) {
  const list = $("changes");
  list.prepend(changeLine(change));
  while (list.children.length > MAX_CHANGES) list.lastElementChild.remove();
  if (change.kind === "put" && change.row && live(change.row)) {
    const known = rows.get(change.state_id);
    if (!known || known.version <= change.row.version) rows.set(change.state_id, change.row);
    const tr = place(rows.get(change.state_id));
    if (tr) highlight(tr);
    showCount(trs.size);
  } else if (change.kind !== "put") {
    forget(change.state_id);
  }
  if (change.state_id === selected) select(selected);
}

async function select(stateId) {
  selected = stateId;
  for (const [id, tr] of trs) tr.classList.toggle("selected", id === stateId);
  const { status, body } = await getJson(`/api/item?id=${encodeURIComponent(stateId)}`);
  if (selected !== stateId) return; // another was clicked meanwhile
  $("detail").hidden = false;
  $("detail-id").textContent = stateId;
  const meta = $("detail-meta");
  meta.replaceChildren();
  const changes = $("detail-changes");
  changes.replaceChildren(...(body.changes ?? []).map(changeLine));
  if (status !== 200) {
    $("detail-value").textContent = body.error ?? "absent or expired";
    $("detail-masked").hidden = true;
    return;
  }
  const row = body.row;
  for (const [name, value] of [
    ["type", row.type],
    ["version", row.version],
    ["publisher", row.publisher ?? ""],
    ["updated", updated(row.timestamp)],
    ["expires", row.ttl ? localTime(new Date(row.ttl * 1000)) : "never"],
  ]) {
    meta.append(el("dt", name), el("dd", value));
  }
  $("detail-value").textContent = body.value;
  $("detail-masked").hidden = !body.masked;
}

function showLive(on, text) {
  const badge = $("live");
  badge.textContent = text;
  badge.classList.toggle("on", on);
  badge.classList.toggle("off", !on);
  document.body.dataset.live = String(on);
}

// The server's feed opens its subscription in the background: poll until it is live.
async function watchStatus() {
  const { body } = await getJson("/api/status");
  if (body.live) showLive(true, "live");
  else if (body.error) showLive(false, "not live");
  else setTimeout(watchStatus, 1000);
  if (body.error) $("live").title = body.error;
}

function connect() {
  const events = new EventSource("/api/events");
  let dropped = false;
  events.addEventListener("change", (event) => apply(JSON.parse(event.data)));
  events.addEventListener("open", () => {
    // Back after a drop: what changed meanwhile is only in a fresh listing.
    if (dropped) load().then(watchStatus);
    dropped = false;
  });
  events.addEventListener("error", () => {
    dropped = true;
    showLive(false, "reconnecting");
  });
}

function sortBy(key) {
  sortDir = key === sortKey ? -sortDir : 1;
  sortKey = key;
  render();
}

for (const th of document.querySelectorAll("#items th")) {
  th.addEventListener("click", () => sortBy(th.dataset.key));
}
$("filter").addEventListener("input", render);
setInterval(tick, 1000);
connect();
load().then(watchStatus);
