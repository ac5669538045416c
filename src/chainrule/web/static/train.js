// The training page: polls GET /api/metrics and draws the curves as SVG, by hand.
//
// Each poll asks only for the losses the page does not have yet (?since=N), so a long
// run costs no more per poll than a short one. Per-epoch records are few and come whole.
// The charts are redrawn from the arrays after each poll: plain SVG lines and text, no
// chart library.

"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const WIDTH = 960;
  const HEIGHT = 300;
  const MARGIN = { left: 60, right: 20, top: 28, bottom: 40 };
  const MAX_POINTS = 1200;   // more loss values than this are averaged in buckets

  const statusEl = document.getElementById("train-status");
  const infoEl = document.getElementById("train-info");
  const lossSvg = document.getElementById("loss-chart");
  const accSvg = document.getElementById("acc-chart");
  const rowsEl = document.getElementById("epoch-rows");

  let iterations = [];
  let losses = [];
  let epochs = [];

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const key in attrs) node.setAttribute(key, attrs[key]);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Round numbers for axis ticks: 1, 2 or 5 times a power of ten.
  function ticks(low, high, count) {
    if (!(high > low)) { high = low + 1; }
    const raw = (high - low) / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
    const result = [];
    for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) {
      result.push(Number(v.toPrecision(12)));
    }
    return result;
  }

  function decimate(points) {
    if (points.length <= MAX_POINTS) return points;
    const size = Math.ceil(points.length / MAX_POINTS);
    const result = [];
    for (let i = 0; i < points.length; i += size) {
      const bucket = points.slice(i, i + size);
      let x = 0, y = 0;
      for (const p of bucket) { x += p[0]; y += p[1]; }
      result.push([x / bucket.length, y / bucket.length]);
    }
    return result;
  }

  function drawChart(svg, opts) {
    svg.textContent = "";
    const all = opts.series.flatMap((s) => s.points);
    const plotW = WIDTH - MARGIN.left - MARGIN.right;
    const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
    svg.appendChild(el("text", { x: MARGIN.left, y: 18, class: "title" }, opts.title));
    if (!all.length) {
      svg.appendChild(el("text", { x: WIDTH / 2, y: HEIGHT / 2, "text-anchor": "middle" },
        "no data yet"));
      return;
    }
    let xMin = Math.min(...all.map((p) => p[0]));
    let xMax = Math.max(...all.map((p) => p[0]));
    if (opts.xMin !== undefined) xMin = Math.min(xMin, opts.xMin);
    if (xMax === xMin) xMax = xMin + 1;
    let yMin = opts.yMin !== undefined ? opts.yMin : Math.min(...all.map((p) => p[1]));
    let yMax = opts.yMax !== undefined ? opts.yMax : Math.max(...all.map((p) => p[1]));
    if (yMax === yMin) { yMax = yMin + 1; }
    if (opts.yMin === undefined) yMin = Math.max(0, yMin - 0.05 * (yMax - yMin));
    const sx = (x) => MARGIN.left + ((x - xMin) / (xMax - xMin)) * plotW;
    const sy = (y) => MARGIN.top + (1 - (y - yMin) / (yMax - yMin)) * plotH;

    for (const t of ticks(yMin, yMax, 5)) {
      if (t < yMin - 1e-12 || t > yMax + 1e-12) continue;
      svg.appendChild(el("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: sy(t), y2: sy(t), class: "grid" }));
      svg.appendChild(el("text", { x: MARGIN.left - 6, y: sy(t) + 4, "text-anchor": "end" }, String(t)));
    }
    for (const t of ticks(xMin, xMax, 8)) {
      if (t < xMin || t > xMax || (opts.integerX && t !== Math.round(t))) continue;
      svg.appendChild(el("text", { x: sx(t), y: HEIGHT - MARGIN.bottom + 16, "text-anchor": "middle" }, String(t)));
    }
    svg.appendChild(el("line", { x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: HEIGHT - MARGIN.bottom, class: "axis" }));
    svg.appendChild(el("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: HEIGHT - MARGIN.bottom, y2: HEIGHT - MARGIN.bottom, class: "axis" }));
    svg.appendChild(el("text", { x: MARGIN.left + plotW / 2, y: HEIGHT - 6, "text-anchor": "middle" }, opts.xLabel));

    let legendX = WIDTH - MARGIN.right;
    for (const s of opts.series) {
      if (!s.points.length) continue;
      const points = decimate(s.points).map((p) => sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).join(" ");
      svg.appendChild(el("polyline", { points, class: s.cls }));
      if (s.dots) {
        for (const p of s.points) {
          svg.appendChild(el("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 3, class: s.dots }));
        }
      }
      const label = el("text", { x: legendX, y: 18, "text-anchor": "end", class: "legend-" + s.cls }, s.label);
      svg.appendChild(label);
      legendX -= 10 + 7 * s.label.length;
    }
  }

  function redraw() {
    const raw = [];
    for (let i = 0; i < losses.length; i++) {
      if (losses[i] !== null) raw.push([iterations[i], losses[i]]);
    }
    const epochLoss = epochs.filter((e) => e.loss !== null && e.iteration !== null)
      .map((e) => [e.iteration, e.loss]);
    drawChart(lossSvg, {
      title: "loss", xLabel: "iteration",
      series: [
        { points: raw, cls: "loss-raw", label: "per iteration" },
        { points: epochLoss, cls: "loss-epoch", dots: "dot-loss", label: "epoch mean" },
      ],
    });
    const pick = (key) => epochs.filter((e) => e[key] !== null && e[key] !== undefined)
      .map((e) => [e.epoch, e[key]]);
    drawChart(accSvg, {
      title: "accuracy", xLabel: "epoch", yMin: 0, yMax: 1, integerX: true, xMin: 0,
      series: [
        { points: pick("train_acc"), cls: "train", dots: "dot-train", label: "train" },
        { points: pick("test_acc"), cls: "test", dots: "dot-test", label: "test" },
      ],
    });
    rowsEl.textContent = "";
    const fmt = (v, digits) => (v === null || v === undefined ? "-" : Number(v).toFixed(digits));
    for (const e of epochs) {
      const tr = document.createElement("tr");
      for (const cell of [e.epoch, e.iteration, fmt(e.loss, 4), fmt(e.train_acc, 4), fmt(e.test_acc, 4), fmt(e.elapsed, 1)]) {
        const td = document.createElement("td");
        td.textContent = cell === null || cell === undefined ? "-" : String(cell);
        tr.appendChild(td);
      }
      rowsEl.appendChild(tr);
    }
  }

  function describe(data) {
    const n = iterations.length;
    const lastIteration = n ? iterations[n - 1] : 0;
    const lastEpoch = epochs.length ? epochs[epochs.length - 1].epoch : 0;
    if (data.status === "waiting") {
      statusEl.textContent = "Waiting for training to start.";
    } else {
      statusEl.textContent = (data.status === "done" ? "Finished" : "Training") +
        ": iteration " + lastIteration + ", epoch " + lastEpoch + ", " +
        data.running_for.toFixed(1) + " s.";
    }
    const facts = Object.entries(data.info || {}).map(([k, v]) => k + ": " + v);
    infoEl.textContent = facts.join(" \u00b7 ");
  }

  function poll() {
    fetch("/api/metrics?since=" + iterations.length)
      .then((r) => r.json())
      .then((data) => {
        if (data.count < iterations.length) {
          // The server was restarted: start over.
          iterations = []; losses = [];
        } else {
          iterations = iterations.concat(data.iterations);
          losses = losses.concat(data.loss);
        }
        epochs = data.epochs;
        describe(data);
        redraw();
        setTimeout(poll, data.status === "done" ? 5000 : 1000);
      })
      .catch(() => {
        statusEl.textContent = "Cannot reach the server; trying again.";
        setTimeout(poll, 3000);
      });
  }

  redraw();
  poll();
})();
