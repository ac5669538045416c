// The attention page: type a prompt, see what a language model expects next and where
// each of its attention heads looked.
//
// The prompt goes to POST /api/next while the person types; the answer has the next
// character's probabilities (the likeliest listed with their characters) and, for every
// attention layer and head, the weights over the window the model read (a causal
// layer's row t stops at column t: the rest is zero by construction). "Sample next"
// goes to POST /api/sample, which draws a character, appends it and answers for the
// longer prompt, which replaces the text. At most one request is in flight; a change
// made meanwhile is sent when the answer arrives. Nothing is computed here but pixels.

"use strict";

(function () {
  const MIN_INTERVAL_MS = 80;
  const MAP_MIN = 120;           // a small map's side, CSS pixels
  const MAP_MAX = 240;
  const LABEL_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif";
  const MONO_FONT = "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace";
  const DARK = [8, 48, 107];     // weight 1
  const LIGHT = [255, 255, 255]; // weight 0
  const EMPTY = "#f7f8fa";       // masked (the page's paper): a later position a causal head cannot see

  const promptEl = document.getElementById("prompt");
  const countEl = document.getElementById("prompt-count");
  const sampleButton = document.getElementById("sample");
  const temperatureEl = document.getElementById("temperature");
  const topKEl = document.getElementById("top-k");
  const statusEl = document.getElementById("status");
  const nextEl = document.getElementById("next");
  const nextCountEl = document.getElementById("next-count");
  const restEl = document.getElementById("rest");
  const modelInfoEl = document.getElementById("model-info");
  const attentionEl = document.getElementById("attention");
  const mapsEl = document.getElementById("maps");
  const focusCanvas = document.getElementById("focus");
  const focusNameEl = document.getElementById("focus-name");
  const focusCellEl = document.getElementById("focus-cell");
  const legendCanvas = document.getElementById("legend");

  let model = null;          // the "language" part of /api/model
  let inFlight = false;
  let changed = true;        // the prompt differs from what the shown answer is for
  let wantSample = false;
  let timer = null;
  let lastSent = 0;
  let answer = null;         // the last answer shown
  let focus = { layer: 0, head: 0 };

  // -- characters -----------------------------------------------------------------
  function visible(ch) {
    // White space made visible on the axes and bars.
    if (ch === " ") return "\u2423";
    if (ch === "\n") return "\u21b5";
    if (ch === "\t") return "\u21e5";
    return ch;
  }

  function describeModel(info) {
    if (!info.available || !info.language) {
      modelInfoEl.textContent = "This server's model is not a language model.";
      return;
    }
    const lang = info.language;
    const heads = lang.attention.length
      ? lang.attention.length + " attention layers \u00d7 " + lang.attention[0].heads + " heads"
      : "no attention layers (a recurrent model: it reads the whole prompt)";
    let text = "Model: " + info.name + ", " + heads + ", context " + lang.context +
               " characters, " + lang.vocabulary.length + " characters in its vocabulary, " +
               info.parameters.toLocaleString("en") + " parameters";
    if (info.source) text += ". " + info.source.charAt(0).toUpperCase() + info.source.slice(1);
    modelInfoEl.textContent = text + ".";
  }

  function loadModel() {
    fetch("/api/model")
      .then((r) => r.json())
      .then((info) => {
        describeModel(info);
        if (!info.language) return;
        model = info.language;
        promptEl.maxLength = model.max_prompt;
        topKEl.querySelectorAll("option").forEach((o) => {
          if (o.value && Number(o.value) > model.vocabulary.length) o.remove();
        });
        attentionEl.hidden = model.attention.length === 0;
        drawLegend();
        schedule();
      })
      .catch(() => { modelInfoEl.textContent = "Could not reach the server."; });
  }

  // -- requests -------------------------------------------------------------------
  function showCount() {
    const n = promptEl.value.length;
    if (!model) return;
    let text = n + " of at most " + model.max_prompt + " characters";
    if (model.attention.length) text += "; the model reads the last " + model.context;
    countEl.textContent = text + ".";
  }

  function schedule() {
    changed = true;
    showCount();
    if (timer !== null) return;
    const wait = Math.max(0, MIN_INTERVAL_MS - (Date.now() - lastSent));
    timer = setTimeout(() => { timer = null; pump(); }, wait);
  }

  function samplingSettings() {
    const t = Number(temperatureEl.value);
    const k = topKEl.value === "" ? null : Number(topKEl.value);
    return { temperature: t, top_k: k };
  }

  function pump() {
    if (inFlight || !model) return;
    const prompt = promptEl.value;
    let url = null;
    let body = null;
    if (wantSample) {
      wantSample = false;
      url = "/api/sample";
      body = Object.assign({ prompt }, samplingSettings());
    } else if (changed) {
      url = "/api/next";
      body = { prompt };
    } else {
      promptEl.dataset.sync = "done";
      return;
    }
    if (prompt.length === 0) {
      changed = false;
      clearAnswer("Type a few characters.");
      promptEl.dataset.sync = "done";
      return;
    }
    changed = false;
    inFlight = true;
    lastSent = Date.now();
    promptEl.dataset.sync = "busy";
    sampleButton.disabled = true;
    fetch(url, { method: "POST", headers: { "Content-Type": "application/json" },
                 body: JSON.stringify(body) })
      .then((r) => r.json().then((a) => ({ ok: r.ok, a })))
      .then(({ ok, a }) => {
        if (!ok) throw new Error(a.error || "the server refused the prompt");
        if (a.sampled) {
          if (promptEl.value === prompt) {
            promptEl.value = a.prompt;
            showCount();
          } else {
            changed = true;  // typed meanwhile: the typing wins, read it instead
          }
        }
        if (promptEl.value === prompt || (a.sampled && promptEl.value === a.prompt)) {
          showAnswer(a);
        }
      })
      .catch((err) => {
        statusEl.textContent = "Error: " + err.message;
        statusEl.classList.add("error");
        promptEl.setAttribute("aria-invalid", "true");
      })
      .finally(() => {
        inFlight = false;
        sampleButton.disabled = false;
        pump();
      });
  }

  function clearAnswer(message) {
    answer = null;
    nextEl.textContent = "";
    restEl.textContent = "";
    nextCountEl.textContent = "";
    mapsEl.textContent = "";
    mapsEl.dataset.state = "empty";
    clearCanvas(focusCanvas);
    focusNameEl.textContent = "";
    statusEl.textContent = message;
    statusEl.classList.remove("error");
  }

  // -- the answer -----------------------------------------------------------------
  function showAnswer(a) {
    answer = a;
    promptEl.setAttribute("aria-invalid", "false");
    statusEl.classList.remove("error");
    let text = "";
    if (a.sampled) {
      text = "Sampled \u201c" + visible(a.sampled.token) + "\u201d (p = " +
             a.sampled.p.toFixed(3) + ")" + (a.dropped ? ", the first character dropped" : "") + ". ";
    }
    if (a.window_start > 0) {
      text += "The model reads the last " + a.window.length + " of " + a.prompt_tokens +
              " characters. ";
    }
    statusEl.textContent = text + "Read in " + a.milliseconds + " ms.";
    showBars(a);
    showMaps(a);
    mapsEl.dataset.promptLength = String(a.prompt_tokens);
    promptEl.dataset.shownLength = String(a.prompt_tokens);
  }

  function showBars(a) {
    nextEl.textContent = "";
    const best = a.top.length ? a.top[0].p : 1;
    let shown = 0;
    a.top.forEach((c, k) => {
      const li = document.createElement("li");
      if (k === 0) li.className = "top";
      li.dataset.token = c.token;
      li.dataset.p = String(c.p);
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = visible(c.token);
      const track = document.createElement("span");
      track.className = "track";
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.display = "block";
      // Scaled to the likeliest, so that the others can be told apart.
      fill.style.width = (100 * c.p / best).toFixed(2) + "%";
      track.appendChild(fill);
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = (100 * c.p).toFixed(1) + "%";
      li.append(name, track, value);
      nextEl.appendChild(li);
      shown += c.p;
    });
    const V = a.probabilities.length;
    nextCountEl.textContent = "the " + a.top.length + " likeliest of " + V;
    restEl.textContent = a.top.length < V
      ? "The other " + (V - a.top.length) + " characters share " +
        (100 * Math.max(0, 1 - shown)).toFixed(1) + "%. Bars are scaled to the likeliest."
      : "Bars are scaled to the likeliest.";
  }

  // -- heat maps ------------------------------------------------------------------
  function shade(w) {
    const s = Math.sqrt(Math.min(1, Math.max(0, w)));
    const c = LIGHT.map((l, i) => Math.round(l + (DARK[i] - l) * s));
    return "rgb(" + c[0] + "," + c[1] + "," + c[2] + ")";
  }

  function clearCanvas(canvas) {
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  }

  function sized(canvas, side) {
    // Sharp on screens with more than one device pixel per CSS pixel.
    const ratio = window.devicePixelRatio || 1;
    canvas.style.width = side + "px";
    canvas.style.height = side + "px";
    canvas.width = Math.round(side * ratio);
    canvas.height = Math.round(side * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return ctx;
  }

  // Draws rows (T rows, row t of t + 1 or T numbers) with the window's characters on
  // both axes; records the geometry on the canvas for pointing and for tests.
  function drawMap(canvas, side, rows, chars) {
    const ctx = sized(canvas, side);
    const T = chars.length;
    const margin = Math.max(10, Math.min(16, side / 14));
    const cell = (side - margin) / T;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, side, side);
    for (let t = 0; t < T; t++) {
      const row = rows[t];
      for (let s = 0; s < T; s++) {
        ctx.fillStyle = s < row.length ? shade(row[s]) : EMPTY;
        // Whole pixels, overlapping by one: no hairlines between cells.
        const x = Math.floor(margin + s * cell);
        const y = Math.floor(margin + t * cell);
        ctx.fillRect(x, y, Math.ceil(margin + (s + 1) * cell) - x, Math.ceil(margin + (t + 1) * cell) - y);
      }
    }
    // Characters on the axes: every one where there is room, else every k-th.
    const font = Math.min(13, cell * 0.85, margin * 0.85);
    const every = font >= 6 ? 1 : Math.ceil(6 / (cell * 0.85));
    ctx.font = Math.max(6, font).toFixed(1) + "px " + MONO_FONT;
    ctx.fillStyle = "#1b1f24";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    for (let i = 0; i < T; i += every) {
      const mid = margin + (i + 0.5) * cell;
      ctx.fillText(visible(chars[i]), mid, margin / 2);   // columns: keys
      ctx.fillText(visible(chars[i]), margin / 2, mid);   // rows: queries
    }
    canvas.dataset.x0 = String(margin);
    canvas.dataset.y0 = String(margin);
    canvas.dataset.cell = String(cell);
    canvas.dataset.t = String(T);
  }

  function mapSide(heads) {
    const width = mapsEl.clientWidth || 960;
    return Math.max(MAP_MIN, Math.min(MAP_MAX, Math.floor((width - 12 * heads) / heads)));
  }

  function showMaps(a) {
    mapsEl.textContent = "";
    if (!a.attention.length) {
      mapsEl.dataset.state = "none";
      return;
    }
    if (focus.layer >= a.attention.length) focus = { layer: 0, head: 0 };
    const heads = a.attention[0].heads.length;
    mapsEl.style.gridTemplateColumns = "repeat(" + heads + ", max-content)";
    const side = mapSide(heads);
    a.attention.forEach((layer, l) => {
      layer.heads.forEach((rows, h) => {
        const figure = document.createElement("figure");
        figure.className = "map";
        const canvas = document.createElement("canvas");
        canvas.dataset.layer = String(l);
        canvas.dataset.head = String(h);
        canvas.setAttribute("role", "button");
        canvas.setAttribute("tabindex", "0");
        canvas.setAttribute("aria-label", "layer " + (l + 1) + ", head " + (h + 1) + ": show it large");
        drawMap(canvas, side, rows, a.window);
        const caption = document.createElement("figcaption");
        caption.textContent = "layer " + (l + 1) + " \u00b7 head " + (h + 1);
        figure.append(canvas, caption);
        if (l === focus.layer && h === focus.head) figure.classList.add("chosen");
        const choose = () => { focus = { layer: l, head: h }; showMaps(answer); };
        canvas.addEventListener("click", choose);
        canvas.addEventListener("keydown", (e) => {
          if (e.key === "Enter" || e.key === " ") { e.preventDefault(); choose(); }
        });
        mapsEl.appendChild(figure);
      });
    });
    const layer = a.attention[focus.layer];
    drawMap(focusCanvas, 520, layer.heads[focus.head], a.window);
    focusNameEl.textContent = "Layer " + (focus.layer + 1) + " (" + layer.layer + "), head " +
                              (focus.head + 1) + (layer.causal ? ", causal" : "");
    focusCellEl.textContent = "Point at a cell to read its weight.";
    mapsEl.dataset.state = "shown";
  }

  function pointAt(event) {
    if (!answer || !answer.attention.length) return;
    const box = focusCanvas.getBoundingClientRect();
    const x0 = Number(focusCanvas.dataset.x0);
    const cell = Number(focusCanvas.dataset.cell);
    const s = Math.floor((event.clientX - box.left - x0) / cell);
    const t = Math.floor((event.clientY - box.top - x0) / cell);
    const chars = answer.window;
    if (s < 0 || t < 0 || s >= chars.length || t >= chars.length) return;
    const row = answer.attention[focus.layer].heads[focus.head][t];
    const first = answer.window_start;
    const where = (i) => "\u201c" + visible(chars[i]) + "\u201d (" + (first + i + 1) + ")";
    focusCellEl.textContent = s < row.length
      ? where(t) + " reads " + where(s) + ": " + row[s].toFixed(4)
      : where(t) + " cannot see " + where(s) + ": it comes later";
  }

  function drawLegend() {
    const ctx = sized(legendCanvas, 200);
    legendCanvas.style.height = "34px";
    legendCanvas.height = Math.round(34 * (window.devicePixelRatio || 1));
    ctx.setTransform(window.devicePixelRatio || 1, 0, 0, window.devicePixelRatio || 1, 0, 0);
    for (let x = 0; x < 180; x++) {
      ctx.fillStyle = shade(x / 179);
      ctx.fillRect(10 + x, 2, 1, 14);
    }
    ctx.strokeStyle = "#d8dde3";
    ctx.strokeRect(10.5, 2.5, 179, 13);
    ctx.font = "11px " + LABEL_FONT;
    ctx.fillStyle = "#5b6570";
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const w of [0, 0.1, 0.5, 1]) ctx.fillText(String(w), 10 + 179 * Math.sqrt(w), 19);
  }

  promptEl.addEventListener("input", schedule);
  sampleButton.addEventListener("click", () => { wantSample = true; pump(); });
  focusCanvas.addEventListener("mousemove", pointAt);
  loadModel();
})();
