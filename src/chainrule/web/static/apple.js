// The apple graph (figure 5-17) with inputs to edit. Every change is sent to POST
// /api/apple, which runs chainrule's MulLayer and AddLayer forward and backward; the
// answer's values and derivatives are written on the edges. At most one request is in
// flight; the newest inputs are sent when it returns. Nothing is computed here.

"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const INPUTS = ["apple", "apple_num", "orange", "orange_num", "tax"];
  const DEFAULTS = { apple: "100", apple_num: "2", orange: "150", orange_num: "3", tax: "1.1" };

  // Each edge: where it runs (from, to) and its label. Operators sit at the circles.
  const OPS = [
    { id: "mul_apple", x: 270, y: 95, sign: "\u00d7" },
    { id: "mul_orange", x: 270, y: 275, sign: "\u00d7" },
    { id: "add", x: 500, y: 185, sign: "+" },
    { id: "mul_tax", x: 710, y: 185, sign: "\u00d7" },
  ];
  const R = 20;
  const EDGES = [
    { id: "apple", name: "apple price", from: [20, 40], to: [252, 87] },
    { id: "apple_num", name: "apples", from: [20, 150], to: [252, 103] },
    { id: "orange", name: "orange price", from: [20, 220], to: [252, 267] },
    { id: "orange_num", name: "oranges", from: [20, 330], to: [252, 283] },
    { id: "apple_price", name: "", from: [290, 95], to: [482, 177] },
    { id: "orange_price", name: "", from: [290, 275], to: [482, 193] },
    { id: "all_price", name: "", from: [520, 185], to: [690, 185] },
    { id: "tax", name: "tax", from: [560, 340], to: [696, 199] },
    { id: "price", name: "price", from: [730, 185], to: [880, 185] },
  ];

  const svg = document.getElementById("apple-graph");
  const statusEl = document.getElementById("apple-status");
  const fields = {};
  for (const name of INPUTS) fields[name] = document.getElementById("in-" + name);

  let inFlight = false;
  let pending = false;

  function el(name, attrs, text) {
    const e = document.createElementNS(SVG, name);
    for (const key in attrs) e.setAttribute(key, attrs[key]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function show(v) {
    // Ten significant digits: 110.00000000000001 reads as 110, as in the book.
    return String(Number(v.toPrecision(10)));
  }

  function build() {
    const defs = el("defs", {});
    const marker = el("marker", { id: "apple-arrow", viewBox: "0 0 10 10", refX: "9", refY: "5",
                                  markerWidth: "7", markerHeight: "7", orient: "auto" });
    marker.appendChild(el("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }));
    defs.appendChild(marker);
    svg.appendChild(defs);
    for (const e of EDGES) {
      const g = el("g", { class: "edge", id: "edge-" + e.id });
      g.appendChild(el("line", { class: "wire", x1: e.from[0], y1: e.from[1], x2: e.to[0],
                                 y2: e.to[1], "marker-end": "url(#apple-arrow)" }));
      const mx = (e.from[0] + e.to[0]) / 2;
      const my = (e.from[1] + e.to[1]) / 2;
      if (e.name) g.appendChild(el("text", { class: "name", x: e.from[0], y: e.from[1] - 22 }, e.name));
      const start = e.from[0] === 20 ? e.from[0] + 4 : mx - 20;
      const y = e.from[0] === 20 ? e.from[1] : my;
      g.appendChild(el("text", { class: "value", x: start, y: y - 6 }, ""));
      g.appendChild(el("text", { class: "grad", x: start, y: y + 18 }, ""));
      svg.appendChild(g);
    }
    for (const op of OPS) {
      const g = el("g", { class: "op", id: "op-" + op.id });
      g.appendChild(el("circle", { cx: op.x, cy: op.y, r: R }));
      g.appendChild(el("text", { x: op.x, y: op.y + 6, "text-anchor": "middle" }, op.sign));
      svg.appendChild(g);
    }
  }

  function showGraph(answer) {
    for (const e of EDGES) {
      const g = document.getElementById("edge-" + e.id);
      const edge = answer.edges[e.id];
      const value = g.querySelector("text.value");
      const grad = g.querySelector("text.grad");
      value.textContent = show(edge.value);
      grad.textContent = show(edge.grad);
      value.dataset.exact = String(edge.value);
      grad.dataset.exact = String(edge.grad);
    }
    statusEl.classList.remove("error");
    statusEl.textContent = "price " + show(answer.price) + " (computed on the server)";
  }

  function inputs() {
    // Every field a finite number, else null; bad fields are marked.
    const values = {};
    let ok = true;
    for (const name of INPUTS) {
      const text = fields[name].value.trim();
      const v = text === "" ? NaN : Number(text);
      const bad = !Number.isFinite(v);
      fields[name].setAttribute("aria-invalid", bad ? "true" : "false");
      if (bad) ok = false;
      values[name] = v;
    }
    return ok ? values : null;
  }

  function send() {
    const values = inputs();
    if (!values) {
      statusEl.textContent = "Each input must be a number.";
      statusEl.classList.add("error");
      return;
    }
    if (inFlight) { pending = true; return; }
    inFlight = true;
    fetch("/api/apple", { method: "POST", headers: { "Content-Type": "application/json" },
                          body: JSON.stringify(values) })
      .then((r) => r.json().then((answer) => ({ ok: r.ok, answer })))
      .then(({ ok, answer }) => {
        if (!ok) throw new Error(answer.error || "the server refused the numbers");
        showGraph(answer);
      })
      .catch((err) => {
        statusEl.textContent = "Error: " + err.message;
        statusEl.classList.add("error");
      })
      .finally(() => {
        inFlight = false;
        if (pending) { pending = false; send(); }
      });
  }

  for (const name of INPUTS) fields[name].addEventListener("input", send);
  document.getElementById("apple-form").addEventListener("submit", (e) => e.preventDefault());
  document.getElementById("apple-defaults").addEventListener("click", () => {
    for (const name of INPUTS) fields[name].value = DEFAULTS[name];
    send();
  });

  build();
  send();
})();
