// The backward pass on the drawing page: the heat map of dL/dx, the gradient size of
// every layer, the first layer's weights beside their gradients, and the layer graph
// with shapes and gradient norms on its edges. Everything is drawn here, from the
// numbers the server sends (POST /api/backprop and /api/learn); nothing is fetched.
//
// Signs are colours: blue for negative, red for positive, brightness for size.
// Images come as signed bytes -127..127 in base64, one scale per image (see
// web/backward.py).

"use strict";

window.ChainruleBackprop = (function () {
  const SVG = "http://www.w3.org/2000/svg";

  function fmt(v) {
    if (v === null || v === undefined) return "";
    if (v === 0) return "0";
    const a = Math.abs(v);
    return (a >= 1e4 || a < 1e-3) ? v.toExponential(2) : v.toPrecision(3);
  }

  // A signed value in -1..1 as a colour on black: blue below zero, red above.
  function diverging(t) {
    const a = Math.min(1, Math.abs(t));
    const hi = Math.round(255 * a);
    const lo = Math.round(60 * a);
    return t >= 0 ? [hi, lo, lo] : [lo, Math.round(110 * a), hi];
  }

  function paint(canvas, values, width, height, scale, under) {
    // values: numbers (or -127..127 ints with scale 127); under: optional grey 0..1
    // image drawn faintly beneath, so that the gradient can be read against the digit.
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(width, height);
    let top = scale;
    if (!top) { top = 0; for (const v of values) top = Math.max(top, Math.abs(v)); }
    for (let i = 0; i < width * height; i++) {
      const v = values[i] || 0;
      const c = diverging(top > 0 ? v / top : 0);
      const g = under ? Math.round(70 * (under[i] || 0)) : 0;
      image.data[4 * i] = Math.min(255, c[0] + g);
      image.data[4 * i + 1] = Math.min(255, c[1] + g);
      image.data[4 * i + 2] = Math.min(255, c[2] + g);
      image.data[4 * i + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
  }

  function clear() {
    const heat = document.getElementById("heat");
    const ctx = heat.getContext("2d");
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, heat.width, heat.height);
    heat.dataset.state = "empty";
    document.getElementById("loss-info").textContent = "";
    document.querySelector("#grad-table tbody").textContent = "";
    document.getElementById("units").textContent = "";
    document.getElementById("first-name").textContent = "";
  }

  function showLayers(layers) {
    const body = document.querySelector("#grad-table tbody");
    body.textContent = "";
    let top = 0;
    for (const layer of layers) top = Math.max(top, layer.output_grad_norm || 0);
    for (const layer of layers) {
      const tr = document.createElement("tr");
      tr.dataset.layer = layer.name;
      const name = document.createElement("td");
      name.textContent = layer.name;
      name.title = layer.type;
      const shape = document.createElement("td");
      shape.textContent = "(" + layer.output_shape.join(", ") + ")";
      const norm = document.createElement("td");
      norm.className = "norm";
      const bar = document.createElement("span");
      bar.className = "gbar";
      // A log scale: gradients shrink by orders of magnitude through a deep network.
      const ratio = top > 0 && layer.output_grad_norm > 0
        ? Math.max(0.02, 1 + Math.log10(layer.output_grad_norm / top) / 6) : 0;
      bar.style.width = (60 * ratio).toFixed(1) + "px";
      const text = document.createElement("span");
      text.textContent = fmt(layer.output_grad_norm);
      norm.append(bar, text);
      const params = document.createElement("td");
      params.textContent = layer.params.map((p) => p.name + ": " + fmt(p.grad_norm)).join(", ");
      tr.append(name, shape, norm, params);
      body.appendChild(tr);
    }
  }

  function figure(caption, canvases) {
    const fig = document.createElement("figure");
    fig.className = "unit";
    for (const c of canvases) fig.appendChild(c);
    const cap = document.createElement("figcaption");
    cap.textContent = caption;
    fig.appendChild(cap);
    return fig;
  }

  function bytes(text) {
    // base64 of signed bytes -> numbers -127..127
    const raw = atob(text);
    const out = new Int8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function tile(data, scale, shape, title, cls) {
    const values = bytes(data);
    const c = document.createElement("canvas");
    c.className = cls || "tile";
    c.title = title;
    paint(c, values, shape[1], shape[0], 127);
    c.dataset.scale = scale;
    return c;
  }

  function showFirstLayer(first) {
    const box = document.getElementById("units");
    box.textContent = "";
    const name = document.getElementById("first-name");
    if (!first) { name.textContent = "(no layer with weights)"; return; }
    if (!first.shown.length) { name.textContent = "(" + first.layer + ": " + (first.note || "") + ")"; return; }
    const what = first.kind === "conv" ? "filters" : "units";
    name.textContent = "(" + first.layer + ": " + (first.kind === "conv"
      ? "each filter, its gradient dL/dW, its feature map and dL/d(map)"
      : "each hidden unit's weights W and their gradient dL/dW, as 28\u00d728 images") +
      (first.shown.length < first.units_total
        ? "; the " + first.shown.length + " of " + first.units_total + " " + what +
          " with the largest gradient" : "") + ")";
    first.shown.forEach((k, i) => {
      const tiles = [
        tile(first.weights[i], first.weight_scales[i], first.image_shape,
             "W, |max| " + fmt(first.weight_scales[i])),
        tile(first.grads[i], first.grad_scales[i], first.image_shape,
             "dL/dW, |max| " + fmt(first.grad_scales[i]), "tile grad"),
      ];
      if (first.maps) {
        tiles.push(tile(first.maps[i], first.map_scales[i], first.map_shape,
                        "feature map, |max| " + fmt(first.map_scales[i]), "tile map"));
        tiles.push(tile(first.map_grads[i], first.map_grad_scales[i], first.map_shape,
                        "dL/d(map), |max| " + fmt(first.map_grad_scales[i]), "tile map grad"));
      }
      box.appendChild(figure((first.kind === "conv" ? "filter " : "unit ") + k, tiles));
    });
  }

  function el(name, attrs, text) {
    const e = document.createElementNS(SVG, name);
    for (const key in attrs) e.setAttribute(key, attrs[key]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // The layer graph, top to bottom: a box per layer, an arrow per tensor, the tensor's
  // shape beside the arrow (black) and, after backward, the norm of the gradient that
  // flows back along it (red), as the book writes values above and derivatives below.
  function drawGraph(graph) {
    const svg = document.getElementById("graph");
    svg.textContent = "";
    if (!graph || !graph.nodes) return;
    const boxW = 170, boxH = 26, gap = 46, left = 10, top = 8;
    const height = top * 2 + graph.nodes.length * boxH + (graph.nodes.length - 1) * gap;
    const width = 420;
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    const defs = el("defs", {});
    const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5",
                                  markerWidth: "7", markerHeight: "7", orient: "auto" });
    marker.appendChild(el("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }));
    defs.appendChild(marker);
    svg.appendChild(defs);
    const y = {};
    graph.nodes.forEach((node, i) => {
      const ny = top + i * (boxH + gap);
      y[node.id] = ny;
      const g = el("g", { class: "node", "data-node": node.id });
      g.appendChild(el("rect", { x: left, y: ny, width: boxW, height: boxH, rx: 4 }));
      const label = node.id === "input" || node.id === "loss" ? node.label
        : node.label + " \u00b7 " + node.type;
      g.appendChild(el("text", { x: left + boxW / 2, y: ny + boxH / 2 + 4, "text-anchor": "middle" }, label));
      svg.appendChild(g);
    });
    for (const edge of graph.edges) {
      const y0 = y[edge.source] + boxH, y1 = y[edge.target];
      const x = left + boxW / 2;
      const g = el("g", { class: "edge", "data-source": edge.source, "data-target": edge.target });
      g.appendChild(el("line", { x1: x, y1: y0, x2: x, y2: y1 - 1, "marker-end": "url(#arrow)" }));
      g.appendChild(el("text", { x: x + 12, y: y0 + 18, class: "shape" },
                       "(" + edge.shape.join(", ") + ")"));
      if (edge.grad_norm !== undefined) {
        g.appendChild(el("text", { x: x + 12, y: y0 + 34, class: "grad" },
                         "|dL/d\u00b7| = " + fmt(edge.grad_norm)));
      }
      svg.appendChild(g);
    }
  }

  function show(answer, digit) {
    const heat = document.getElementById("heat");
    paint(heat, answer.input_grad, 28, 28, 0, digit);
    heat.dataset.state = "shown";
    heat.dataset.norm = answer.input_grad_norm;
    document.getElementById("loss-info").textContent =
      "loss for " + answer.chosen + ": " + fmt(answer.loss) + "; |dL/dx| = " +
      fmt(answer.input_grad_norm);
    showLayers(answer.layers);
    showFirstLayer(answer.first_layer);
    drawGraph(answer.graph);
  }

  return { show, clear, drawGraph, fmt };
})();
