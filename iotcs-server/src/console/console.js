// The console of the local cloud: polls its JSON routes (/console/api/...)
// and sends requests to devices through the admin API, whose credentials the
// browser already holds for this origin. No framework, no build step.
"use strict";

const state = { devices: [], devicesKey: "", selected: null, lastSeq: 0, storageKey: "", policiesKey: "" };

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c));
  return e;
}

async function getJson(path, options) {
  // Against the origin, never the page's URL: a page opened as
  // https://admin:PASSWORD@host/console would make every relative URL carry
  // the credentials, which fetch refuses; the browser sends them anyway.
  const url = new URL(path, window.location.origin);
  const r = await fetch(url, Object.assign({ credentials: "same-origin" }, options || {}));
  const text = await r.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = text; }
  if (!r.ok) throw new Error((body && body.detail) || (r.status + " " + text));
  return body;
}

function setStatus(text) { document.getElementById("status").textContent = text; }

async function refreshDevices() {
  const devices = (await getJson("/console/api/devices")).items;
  // Re-rendered only when something changed, so rows stay put under the
  // pointer (and under a click) while nothing happens.
  const key = JSON.stringify(devices);
  if (key === state.devicesKey) return;
  state.devicesKey = key;
  state.devices = devices;
  const body = document.querySelector("#devices tbody");
  body.replaceChildren(...state.devices.map(d => {
    const family = d.gateway ? "via " + d.gateway : d.icds.join(", ");
    const row = el("tr", { class: "device", "data-hardware-id": d.hardwareId },
      el("td", { class: "mono" }, d.hardwareId), el("td", { class: "mono" }, d.id),
      el("td", {}, d.state), el("td", {}, d.type), el("td", {}, family),
      el("td", {}, d.models.map(m => m.name || m.urn).join(", ")));
    if (state.selected === d.hardwareId) row.classList.add("selected");
    row.addEventListener("click", () => select(d.hardwareId));
    return row;
  }));
  renderAttributes();
}

function selectedDevice() { return state.devices.find(d => d.hardwareId === state.selected); }

function select(hardwareId) {
  state.selected = hardwareId;
  document.querySelectorAll("#devices tr.device").forEach(r =>
    r.classList.toggle("selected", r.dataset.hardwareId === hardwareId));
  const d = selectedDevice();
  document.getElementById("detail").hidden = false;
  document.getElementById("detail-title").textContent = d.hardwareId + " (" + d.state + ")";
  renderForms(d);
  renderAttributes();
}

function renderAttributes() {
  const d = selectedDevice();
  if (!d) return;
  const rows = Object.entries(d.attributes).map(([name, value]) =>
    el("tr", { "data-attribute": name }, el("td", {}, name), el("td", { class: "mono value" }, JSON.stringify(value))));
  document.querySelector("#attributes tbody").replaceChildren(...rows);
}

// A form value in the attribute's or argument's type.
function typed(text, type) {
  if (type === "INTEGER" || type === "NUMBER" || type === "DATETIME") return Number(text);
  if (type === "BOOLEAN") return text.trim() === "true";
  return text;
}

function renderForms(d) {
  const forms = [];
  for (const model of d.models) {
    for (const a of model.attributes || []) {
      if (!a.writable) continue;
      const f = el("form", { class: "set", "data-attribute": a.name },
        el("label", {}, "set ", el("b", {}, a.name), " (" + a.type + ")"),
        el("input", { name: "value", "aria-label": a.name }), el("button", { type: "submit" }, "Set"));
      f.addEventListener("submit", ev => {
        ev.preventDefault();
        const value = typed(f.elements.value.value, a.type);
        send("set " + a.name + " = " + JSON.stringify(value), "PUT",
          deviceModelPath(d, model) + "/attributes/" + encodeURIComponent(a.name), { value });
      });
      forms.push(f);
    }
    for (const a of model.actions || []) {
      const f = el("form", { class: "invoke", "data-action": a.name },
        el("label", {}, "invoke ", el("b", {}, a.name), a.argType ? " (" + a.argType + ")" : ""));
      if (a.argType) f.append(el("input", { name: "value", "aria-label": a.name }));
      f.append(el("button", { type: "submit" }, "Invoke"));
      f.addEventListener("submit", ev => {
        ev.preventDefault();
        const body = a.argType ? { value: typed(f.elements.value.value, a.argType) } : {};
        send("invoke " + a.name, "POST",
          deviceModelPath(d, model) + "/actions/" + encodeURIComponent(a.name), body);
      });
      forms.push(f);
    }
  }
  document.getElementById("forms").replaceChildren(...forms);
}

function deviceModelPath(d, model) {
  return "/iot/api/v2/devices/" + encodeURIComponent(d.id) + "/deviceModels/" + encodeURIComponent(model.urn);
}

// Sends a request to the device, then follows it until it is answered or expires.
async function send(what, method, path, body) {
  const item = el("li", { class: "fate", "data-status": "SENDING" }, what + ": sending…");
  document.getElementById("fates").prepend(item);
  const show = (status, text) => { item.dataset.status = status; item.textContent = what + ": " + text; };
  try {
    const request = await getJson(path, {
      method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    for (;;) {
      const r = await getJson("/iot/api/v2/requests/" + encodeURIComponent(request.id));
      if (r.status !== "RECEIVED" && r.status !== "DISPATCHED") {
        const answer = r.response ? " " + r.response.statusCode + " " + JSON.stringify(r.response.body || "") : "";
        show(r.status, r.status + answer);
        return;
      }
      show(r.status, r.status + "…");
      await new Promise(ok => setTimeout(ok, 500));
    }
  } catch (e) {
    show("FAILED", "refused: " + e.message);
  }
}

// A payload as a person reads it: request and response bodies (base64 on
// the wire) decoded when they are text, long ones cut.
function readable(payload) {
  const shown = Object.assign({}, payload);
  if (typeof shown.body === "string") {
    try { shown.body = atob(shown.body); } catch (_) { /* not base64: as is */ }
  }
  const text = JSON.stringify(shown);
  return text.length > 400 ? text.slice(0, 400) + "…" : text;
}

async function refreshFeed() {
  const page = await getJson("/console/api/messages?after=" + state.lastSeq);
  const feed = document.getElementById("feed");
  for (const m of page.items) {
    const time = new Date(m.receivedTime).toLocaleTimeString();
    feed.prepend(el("li", { class: "message", "data-type": m.type, "data-hardware-id": m.hardwareId },
      el("span", { class: "type" }, m.type), " ", m.direction === "FROM_DEVICE" ? "from " : "to ",
      el("b", {}, m.hardwareId), " at " + time,
      el("code", { class: "payload" }, readable(m.payload))));
    state.lastSeq = Math.max(state.lastSeq, m.seq);
  }
  while (feed.children.length > 500) feed.lastChild.remove();
}

// ---- Storage objects: the admin storage API, owners named by hardware id.

// A path segment per name segment, so "<endpoint id>/<name>" stays readable.
function objectPath(name) { return name.split("/").map(encodeURIComponent).join("/"); }

function humanBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

// The device whose endpoint id begins the name (the SDK names objects so).
function ownerOf(name) {
  const first = name.split("/")[0];
  const d = state.devices.find(d => d.id === first);
  return d ? d.hardwareId : "";
}

async function refreshStorage() {
  const items = (await getJson("/iot/admin/storage/objects")).items;
  const key = JSON.stringify([items, state.devicesKey]);
  if (key === state.storageKey) return;
  state.storageKey = key;
  document.getElementById("storage-empty").hidden = items.length > 0;
  document.querySelector("#storage tbody").replaceChildren(...items.map(o => {
    // Against the origin, as in getJson: no password in the link. The
    // browser sends the console's credentials with a same-origin link.
    const href = new URL("/iot/admin/storage/content/" + objectPath(o.name), window.location.origin);
    const link = el("a", { href: href.href, download: o.name.split("/").pop() }, o.name);
    const del = el("button", { type: "button", class: "delete" }, "Delete");
    del.addEventListener("click", () => deleteObject(o.name, del));
    const owner = ownerOf(o.name);
    return el("tr", { class: "object", "data-name": o.name, "data-owner": owner },
      el("td", { class: "mono" }, link), el("td", {}, humanBytes(o.bytes)), el("td", {}, o.content_type),
      el("td", {}, new Date(o.last_modified).toLocaleString()), el("td", { class: "mono" }, owner), el("td", {}, del));
  }));
}

// The first click arms the button, the second deletes: no dialog to block on.
async function deleteObject(name, button) {
  if (button.dataset.armed !== "true") {
    button.dataset.armed = "true";
    button.textContent = "Delete: sure?";
    return;
  }
  const error = document.getElementById("storage-error");
  try {
    await getJson("/iot/admin/storage/objects/" + objectPath(name), { method: "DELETE" });
    error.hidden = true;
  } catch (e) {
    error.hidden = false;
    error.textContent = "cannot delete " + name + ": " + e.message;
  }
  state.storageKey = "";
  await refreshStorage();
}

// ---- Device policies: read from /console/api/policies, changed through
// the admin API (which validates them and notifies the devices).

function policyPath(urn, id) {
  const base = "/iot/api/v2/deviceModels/" + encodeURIComponent(urn) + "/devicePolicies";
  return id === undefined ? base : base + "/" + encodeURIComponent(id);
}

// Sends one change, shows the server's refusal if any, and re-reads the list.
async function changePolicy(what, path, method, body) {
  const error = document.getElementById("policy-error");
  try {
    const options = { method };
    if (body !== undefined) {
      options.headers = { "Content-Type": "application/json" };
      options.body = JSON.stringify(body);
    }
    const answer = await getJson(path, options);
    error.hidden = true;
    return answer;
  } catch (e) {
    error.hidden = false;
    error.textContent = what + " refused: " + e.message;
    return null;
  } finally {
    state.policiesKey = "";
    await refreshPolicies();
  }
}

function policyRow(model, p) {
  const path = policyPath(model.urn, p.id);
  const toggle = el("button", { type: "button", class: "toggle" }, p.enabled ? "Disable" : "Enable");
  toggle.addEventListener("click", () =>
    changePolicy((p.enabled ? "disable " : "enable ") + p.id, path, "PATCH", { enabled: !p.enabled }));
  const devices = el("td", { class: "devices" });
  for (const d of p.devices) {
    const remove = el("button", { type: "button", class: "unassign", title: "unassign " + d.hardwareId }, "×");
    remove.addEventListener("click", () =>
      changePolicy("unassign " + d.hardwareId, path + "/devices/" + encodeURIComponent(d.id), "DELETE"));
    devices.append(el("span", { class: "assigned mono", "data-hardware-id": d.hardwareId }, d.hardwareId, remove));
  }
  const assigned = new Set(p.devices.map(d => d.id));
  const free = model.devices.filter(d => !assigned.has(d.id));
  if (free.length > 0) {
    const select = el("select", { class: "assign-device", "aria-label": "device to assign" },
      ...free.map(d => el("option", { value: d.id, "data-hardware-id": d.hardwareId }, d.hardwareId)));
    const assign = el("button", { type: "button", class: "assign" }, "Assign");
    assign.addEventListener("click", () =>
      changePolicy("assign to " + select.selectedOptions[0].textContent, path + "/devices", "POST",
        { devices: [select.value] }));
    devices.append(el("span", {}, select, " ", assign));
  }
  return el("tr", { class: "policy", "data-policy-id": p.id, "data-enabled": String(p.enabled) },
    el("td", { class: "mono" }, p.id), el("td", { class: "description" }, p.description),
    el("td", { class: "enabled" }, p.enabled ? "yes" : "no"),
    el("td", { class: "pipelines mono" }, ...p.pipelines.map(line => el("div", {}, line))),
    devices, el("td", {}, toggle));
}

function modelBlock(model) {
  const block = el("div", { class: "model", "data-urn": model.urn },
    el("h3", {}, model.name || model.urn, " ", el("small", { class: "mono" }, model.urn)));
  if (model.policies.length === 0) {
    block.append(el("p", { class: "hint" }, "No policies."));
    return block;
  }
  const head = el("tr", {}, ...["Id", "Description", "Enabled", "Pipelines", "Devices", ""].map(h => el("th", {}, h)));
  block.append(el("table", { class: "policies" }, el("thead", {}, head),
    el("tbody", {}, ...model.policies.map(p => policyRow(model, p)))));
  return block;
}

async function refreshPolicies() {
  const models = (await getJson("/console/api/policies")).models;
  const key = JSON.stringify(models);
  if (key === state.policiesKey) return;
  state.policiesKey = key;
  document.getElementById("policies-empty").hidden = models.length > 0;
  document.getElementById("policies").replaceChildren(...models.map(modelBlock));
  const select = document.querySelector("#new-policy select");
  const chosen = select.value;
  select.replaceChildren(...models.map(m => el("option", { value: m.urn }, m.name || m.urn)));
  if (models.some(m => m.urn === chosen)) select.value = chosen;
}

document.getElementById("new-policy").addEventListener("submit", async ev => {
  ev.preventDefault();
  const form = ev.target;
  const error = document.getElementById("policy-error");
  let body;
  try {
    body = JSON.parse(form.elements.json.value);
  } catch (e) {
    error.hidden = false;
    error.textContent = "the policy is not JSON: " + e.message;
    return;
  }
  const created = await changePolicy("the new policy", policyPath(form.elements.urn.value), "POST", body);
  if (created) form.elements.json.value = "";
});

async function tick() {
  try {
    await refreshDevices();
    await refreshFeed();
    await refreshStorage();
    await refreshPolicies();
    setStatus("live · " + new Date().toLocaleTimeString());
  } catch (e) {
    setStatus("cannot reach the local cloud: " + e.message);
  }
  setTimeout(tick, 1000);
}

tick();
