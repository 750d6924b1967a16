// tayori dashboard: draws each queue's depth over time with uPlot, fed by /api/series.
// The server samples; this only fetches what is new since the last poll and appends it.
(function () {
  "use strict";
  const root = document.getElementById("charts");
  const interval = Math.max(250, 1000 * parseFloat(root.dataset.interval || "1"));
  const keep = 3600;
  const state = { t: [], queues: {}, charts: {}, updates: 0, since: null, history: null };
  window.tayoriDashboard = state;

  const depthSeries = [
    {},
    { label: "total", stroke: "#1f5fa8", width: 2, fill: "rgba(31, 95, 168, 0.25)", points: { show: false } },
    { label: "visible", stroke: "#2a9d8f", width: 1, points: { show: false } },
    { label: "in flight", stroke: "#e9a23b", width: 1, points: { show: false } },
    { label: "delayed", stroke: "#8e7cc3", width: 1, dash: [4, 4], points: { show: false } },
  ];
  const dlqSeries = [{}, { label: "DLQ depth", stroke: "#c0392b", width: 2, fill: "rgba(192, 57, 43, 0.25)", points: { show: false } }];

  function card(name, dlqName) {
    const el = document.createElement("section");
    el.className = "queue";
    el.dataset.queue = name;
    el.innerHTML =
      '<h3></h3><div class="charts-row"><div class="chart depth"></div><div class="chart dlqchart"></div></div>' +
      '<div class="queue-actions"></div><div class="dlq-panel"></div>';
    el.querySelector("h3").textContent = name + (dlqName ? "  (DLQ: " + dlqName + ")" : "  (no DLQ)");
    if (dlqName) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "browse-dlq";
      b.textContent = "Browse dead letters";
      b.addEventListener("click", function () {
        htmx.ajax("GET", "/queues/" + encodeURIComponent(name) + "/dlq", { target: el.querySelector(".dlq-panel") });
      });
      el.querySelector(".queue-actions").appendChild(b);
    }
    root.appendChild(el);
    const none = document.getElementById("no-queues");
    if (none) none.remove();
    const width = Math.max(320, Math.floor(root.clientWidth * 0.68));
    const opts = (title, series, w) => ({
      title: title, width: w, height: 220, series: series,
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(5, max * 1.1)] } },
      axes: [{}, { size: 50 }],
    });
    const q = state.queues[name];
    const depth = new uPlot(opts("depth", depthSeries, width), [state.t, q.total, q.visible, q.in_flight, q.delayed], el.querySelector(".depth"));
    const dlq = new uPlot(opts("DLQ", dlqSeries, Math.max(240, Math.floor(root.clientWidth * 0.28))), [state.t, q.dlq], el.querySelector(".dlqchart"));
    state.charts[name] = { depth: depth, dlq: dlq, el: el };
  }

  function blank(n) { return new Array(n).fill(null); }

  function append(data) {
    const n = data.t.length;
    if (!n) return;
    const before = state.t.length;
    for (const name of Object.keys(data.queues)) {
      if (!state.queues[name]) {
        state.queues[name] = { dlq_name: data.queues[name].dlq_name, visible: blank(before), in_flight: blank(before), delayed: blank(before), total: blank(before), dlq: blank(before) };
      }
    }
    Array.prototype.push.apply(state.t, data.t);
    for (const [name, q] of Object.entries(state.queues)) {
      const got = data.queues[name];
      for (const col of ["visible", "in_flight", "delayed", "total", "dlq"]) {
        Array.prototype.push.apply(q[col], got ? got[col] : blank(n));
      }
    }
    const extra = state.t.length - keep;
    if (extra > 0) {
      state.t.splice(0, extra);
      for (const q of Object.values(state.queues)) for (const col of ["visible", "in_flight", "delayed", "total", "dlq"]) q[col].splice(0, extra);
    }
    state.since = data.t[n - 1];
  }

  function draw() {
    for (const [name, q] of Object.entries(state.queues)) {
      const c = state.charts[name];
      if (!c) { card(name, q.dlq_name); continue; }
      c.depth.setData([state.t, q.total, q.visible, q.in_flight, q.delayed]);
      c.dlq.setData([state.t, q.dlq]);
    }
  }

  function prependHistory(h) {
    // CloudWatch's minute points before the live samples (AWS only; empty elsewhere)
    if (!h || !h.t || !h.t.length) return;
    const first = state.t.length ? state.t[0] : Infinity;
    const idx = h.t.map((t, i) => [t, i]).filter(([t]) => t < first);
    if (!idx.length) return;
    state.history = h;
    state.t.unshift(...idx.map(([t]) => t));
    for (const [name, q] of Object.entries(state.queues)) {
      const hq = h.queues[name];
      for (const col of ["visible", "in_flight", "delayed", "dlq"]) {
        q[col].unshift(...idx.map(([, i]) => (hq && hq[col][i] != null ? hq[col][i] : null)));
      }
      q.total.unshift(...idx.map(([, i]) => hq ? (hq.visible[i] || 0) + (hq.in_flight[i] || 0) + (hq.delayed[i] || 0) : null));
    }
  }

  function put(path, value) {
    for (const el of document.querySelectorAll('[data-counter="' + path + '"]')) el.textContent = value;
  }

  function tasks(byTask) {
    const table = document.getElementById("task-counters");
    const names = Object.keys(byTask).sort();
    if (!table || !names.length) return;
    const body = table.querySelector("tbody");
    body.replaceChildren(...names.map(function (name) {
      const tr = document.createElement("tr");
      tr.dataset.task = name;
      for (const v of [name, ...["succeeded", "failed", "dead_lettered", "duplicates_skipped"].map(k => byTask[name][k])]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.appendChild(td);
      }
      return tr;
    }));
    table.hidden = false;
  }

  async function counters() {
    const r = await fetch("/api/metrics", { cache: "no-store" });
    if (!r.ok) return;
    const m = await r.json();
    for (const k of ["sent", "failed", "suppressed", "pending"]) put("mail." + k, m.mail[k] || 0);
    for (const k of ["sent_per_s", "drain_per_s"]) put("rates." + k, m.rates[k]);
    if (m.workers) {
      put("workers.live", m.workers.live);
      for (const [k, v] of Object.entries(m.workers.total)) put("workers.total." + k, v);
      tasks(m.workers.tasks || {});
    }
  }

  async function poll() {
    try {
      const url = state.since == null ? "/api/series" : "/api/series?since=" + state.since;
      const r = await fetch(url, { cache: "no-store" });
      if (r.ok) {
        const data = await r.json();
        const first = state.since == null;
        append(data);
        if (first) prependHistory(data.history);
        draw();
        state.updates += 1;
      }
      await counters();
    } catch (e) {
      console.warn("tayori dashboard poll failed", e);
    }
    setTimeout(poll, interval);
  }
  // a refused or failed action (403 without the CSRF token, a queue that is gone, ...)
  // says why at the top of the page instead of silently doing nothing
  document.body.addEventListener("htmx:responseError", function (evt) {
    const flash = document.getElementById("flash");
    flash.textContent = evt.detail.xhr.responseText || "request failed: " + evt.detail.xhr.status;
    flash.hidden = false;
  });
  document.body.addEventListener("htmx:afterRequest", function (evt) {
    if (evt.detail.successful && evt.detail.requestConfig.verb !== "get") document.getElementById("flash").hidden = true;
  });
  poll();
})();
