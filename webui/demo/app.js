// The demo page: everything here goes through the SDK the server serves.
import { PresenceClient } from "/sdk/presenced.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const activities = { in_call: "📞 In a call", in_meeting: "📅 In a meeting", presenting: "🖥️ Presenting", focus: "🎧 Focusing" };
const room = "doc:demo";
let client = null;
let doc = null;
let me = "";
let myStatus = "online";
let contacts = [];
const blocked = new Set();
const cursors = new Map();

function color(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) % 360;
  return `hsl(${h} 62% 48%)`;
}

function el(tag, props = {}, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") n.className = v;
    else if (k.startsWith("data-")) n.setAttribute(k, v);
    else n[k] = v;
  }
  for (const k of kids) if (k != null) n.append(k);
  return n;
}

function avatar(name, status) {
  return el("span", { class: "avatar", style: `background:${color(name)}` }, name.slice(0, 1), el("span", { class: `dot ${status}` }));
}

function ago(sec) {
  if (!sec) return "";
  const s = Math.max(0, Date.now() / 1000 - sec);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(sec * 1000).toLocaleDateString();
}

function describe(p) {
  const parts = [];
  if (p.activity) parts.push(activities[p.activity] ?? p.activity);
  if (p.custom_status || p.custom_emoji) parts.push(`${p.custom_emoji ?? ""} ${p.custom_status ?? ""}`.trim());
  if (p.status === "offline") parts.push(p.last_seen ? `last seen ${ago(p.last_seen)}` : "offline");
  else if (p.idle && p.status === "away") parts.push("idle");
  return parts.join(" · ");
}

function renderContacts() {
  const list = $("contacts");
  list.replaceChildren();
  for (const id of contacts) {
    const p = client.get(id) ?? { status: "offline" };
    const isBlocked = blocked.has(id);
    const btn = el("button", { type: "button", class: "ghost small", textContent: isBlocked ? "Unblock" : "Block" });
    btn.onclick = () => (isBlocked ? unblock(id) : block(id));
    list.append(
      el("li", { "data-user": id, "data-status": p.status },
        avatar(id, p.status),
        el("div", { class: "who" },
          el("div", { class: "name" }, id, el("span", { class: "pill status", textContent: p.status })),
          el("div", { class: "line", textContent: describe(p) || "\u00a0" })),
        btn));
  }
  const bl = $("blocked");
  bl.replaceChildren(...[...blocked].map((id) => el("li", { "data-blocked": id }, id, el("span", { class: "pill", textContent: "blocked" }))));
}

function renderMe() {
  const p = client.get(me);
  const shown = myStatus === "invisible" ? "offline" : p?.status ?? "online";
  $("me-dot").className = `dot ${shown}`;
  for (const b of $("status-picker").children) b.classList.toggle("on", b.dataset.status === myStatus);
  $("my-line").textContent = p ? `Others see: ${p.invisible ? "offline (invisible)" : p.status}${describe(p) ? " · " + describe(p) : ""}` : "";
}

function memberStatus(id) {
  if (id === me) return myStatus === "invisible" ? "offline" : client.get(me)?.status ?? "online";
  const s = client.get(id)?.status;
  return s && s !== "offline" ? s : "online";
}

function renderMembers() {
  if (!doc) return;
  const pile = $("members");
  pile.replaceChildren();
  for (const m of [...doc.members.values()].sort((a, b) => a.user_id.localeCompare(b.user_id))) {
    const modes = new Set(m.connections.map((c) => c.meta?.mode ?? "viewing"));
    const label = modes.has("editing") ? "✏️ editing" : "👀 viewing";
    pile.append(el("span", { class: "member", "data-member": m.user_id, "data-mode": modes.has("editing") ? "editing" : "viewing" },
      avatar(m.user_id, memberStatus(m.user_id)), el("span", {}, m.user_id === me ? `${m.user_id} (you)` : m.user_id), el("span", { class: "pill", textContent: label })));
  }
  for (const [sid, c] of cursors) if (!doc.members.has(c.user)) { c.node.remove(); cursors.delete(sid); }
}

function drawCursor({ user_id, session_id, cursor }) {
  if (typeof cursor.x !== "number" || typeof cursor.y !== "number") return;
  let c = cursors.get(session_id);
  if (!c) {
    const node = el("div", { class: "cursor", "data-cursor": user_id });
    node.innerHTML = `<svg width="16" height="20" viewBox="0 0 16 20"><path d="M1 1l13 10-6 1-3 6z" fill="${color(user_id)}" stroke="#fff" stroke-width="1.5"/></svg>`;
    node.append(el("span", { style: `background:${color(user_id)}`, textContent: user_id }));
    $("cursors").append(node);
    c = { node, user: user_id };
    cursors.set(session_id, c);
  }
  const paper = $("paper");
  c.node.style.transform = `translate(${cursor.x * paper.clientWidth}px, ${cursor.y * paper.clientHeight}px)`;
  c.node.dataset.x = cursor.x;
  c.node.dataset.y = cursor.y;
}

async function setStatus(status) {
  myStatus = status;
  renderMe();
  await client.setStatus(status);
}

async function block(id) {
  await client.block(id);
  blocked.add(id);
  renderContacts();
}

async function unblock(id) {
  await client.unblock(id);
  blocked.delete(id);
  renderContacts();
}

async function start(name, watch) {
  me = name;
  contacts = watch.filter((c) => c && c !== me);
  $("login").hidden = true;
  $("app").hidden = false;
  $("me").hidden = false;
  $("me-name").textContent = me;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/ws`;
  client = new PresenceClient({
    url, device: "web",
    ...(params.get("token") ? { token: params.get("token") } : { userId: me }),
    idleAfterMs: Number(params.get("idle_ms")) || 300_000,
    hiddenIdleAfterMs: Number(params.get("hidden_idle_ms")) || 60_000,
  });
  window.presenced = client;
  client.on("state", (s) => { $("conn").textContent = s; $("conn").className = `conn ${s}`; });
  client.on("presence", (p) => {
    if (p.user_id === me) renderMe();
    else renderContacts();
    renderMembers();
  });
  // A server without --dev refuses ?user_id=: say so instead of spinning.
  const hint = setTimeout(() => {
    if (client.state !== "connected") $("conn").textContent = "cannot connect: without --dev, open this page with ?token=<JWT>";
  }, 5000);
  await client.connect();
  clearTimeout(hint);
  await client.subscribe([me, ...contacts]);
  const priv = await client.getPrivacy();
  $("visibility").value = priv.visibility;
  $("last-seen").value = priv.last_seen_visibility;
  renderContacts();
  renderMe();
  doc = await client.joinRoom(room, { mode: "viewing" });
  doc.on("change", renderMembers);
  doc.on("cursor", drawCursor);
  doc.on("leave", (id) => { for (const [sid, c] of cursors) if (c.user === id) { c.node.remove(); cursors.delete(sid); } });
  for (const b of $("mode-picker").children) b.classList.toggle("on", b.dataset.mode === "viewing");
  renderMembers();
  document.body.dataset.ready = "true";
}

$("login-form").onsubmit = (e) => {
  e.preventDefault();
  const name = $("login-name").value.trim();
  if (!name) return;
  localStorage.setItem("presenced-demo-name", name);
  start(name, $("login-contacts").value.split(",").map((s) => s.trim()));
};
$("login-name").value = localStorage.getItem("presenced-demo-name") ?? "";
$("signout").onclick = () => { client?.close(); localStorage.removeItem("presenced-demo-name"); location.search = ""; };
$("status-picker").onclick = (e) => { const b = e.target.closest("button"); if (b) setStatus(b.dataset.status); };
$("activity").onchange = (e) => client.setStatus(myStatus === "invisible" ? "invisible" : myStatus, { activity: e.target.value });
$("custom-form").onsubmit = (e) => {
  e.preventDefault();
  const secs = Number($("custom-expiry").value);
  client.setStatus(myStatus, {
    customStatus: $("custom-text").value, customEmoji: $("custom-emoji").value,
    ...(secs ? { customStatusExpiresAt: Date.now() / 1000 + secs } : {}),
  });
};
$("custom-clear").onclick = () => { $("custom-text").value = ""; $("custom-emoji").value = ""; client.setStatus(myStatus, { customStatus: "", customEmoji: "" }); };
$("visibility").onchange = (e) => client.setPrivacy({ visibility: e.target.value });
$("last-seen").onchange = (e) => client.setPrivacy({ last_seen_visibility: e.target.value });
$("add-contact").onsubmit = async (e) => {
  e.preventDefault();
  const id = $("add-contact-name").value.trim();
  if (!id || contacts.includes(id) || id === me) return;
  contacts.push(id);
  $("add-contact-name").value = "";
  await client.subscribe([id]);
  renderContacts();
};
$("mode-picker").onclick = (e) => {
  const b = e.target.closest("button");
  if (!b || !doc) return;
  for (const x of $("mode-picker").children) x.classList.toggle("on", x === b);
  doc.updateMeta({ mode: b.dataset.mode });
};
let rect = null;
$("paper").onpointermove = (e) => {
  if (!doc) return;
  rect = $("paper").getBoundingClientRect();
  doc.sendCursor({ x: (e.clientX - rect.left) / rect.width, y: (e.clientY - rect.top) / rect.height });
};
setInterval(() => client && renderContacts(), 30_000);

if (params.get("user")) start(params.get("user"), (params.get("contacts") ?? "alice,bob,carol,dave").split(","));
