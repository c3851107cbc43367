// Admin dashboard: plain ES module, no build step. Shows readiness and installation facts.
const $ = (sel) => document.querySelector(sel);

function row(name, state) {
  const tr = document.createElement("tr");
  const a = document.createElement("td");
  const b = document.createElement("td");
  a.textContent = name;
  b.textContent = state;
  b.className = state === "ok" ? "good" : "bad";
  tr.append(a, b);
  return tr;
}

async function refresh() {
  try {
    const res = await fetch("/readyz", { cache: "no-store" });
    const body = await res.json();
    $("#overall").textContent = body.status;
    $("#overall").className = "pill " + (body.status === "ok" ? "good" : "bad");
    const tbody = $("#checks tbody");
    tbody.replaceChildren(...Object.entries(body.checks).map(([k, v]) => row(k, v)));
  } catch (e) {
    $("#overall").textContent = "unreachable";
    $("#overall").className = "pill bad";
  }
}

async function facts() {
  const res = await fetch("/api/v1/meta");
  if (!res.ok) return;
  const m = await res.json();
  $("#version").textContent = "v" + m.version;
  const dl = $("#facts");
  for (const [k, v] of [["Schema", m.schemaVersion], ["Time zone", m.timezone], ["Currency", m.currency], ["Server time", m.serverTime]]) {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = String(v);
    dl.append(dt, dd);
  }
}

facts();
refresh();
setInterval(refresh, 10000);
