// The console of the local cloud: polls its JSON routes (/console/api/...)
// and sends requests to devices through the admin API, whose credentials the
// browser already holds for this origin. No framework, no build step.
"use strict";

const state = { devices: [], devicesKey: "", selected: null, lastSeq: 0 };

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

async function tick() {
  try {
    await refreshDevices();
    await refreshFeed();
    setStatus("live · " + new Date().toLocaleTimeString());
  } catch (e) {
    setStatus("cannot reach the local cloud: " + e.message);
  }
  setTimeout(tick, 1000);
}

tick();
