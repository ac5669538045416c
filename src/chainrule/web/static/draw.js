// The drawing page: a canvas to draw on, and the network's reading of it, live.
//
// The canvas is white ink on black, like MNIST. While the person draws, the page sends
// the drawing to POST /predict, shrunk to 112x112 by the browser so that a request
// stays small; the server turns it into a 28x28 MNIST digit (crop, fit 20x20, centre by
// centre of mass) and answers with the class probabilities, the first hidden layer's
// activations and the 28x28 digit it actually classified, which is shown too.
// At most one request is in flight; drawing while it is out only marks the drawing as
// changed, and the newest drawing is sent when the answer arrives.
//
// Once the person says which digit it really is, every drawing goes to POST
// /api/backprop instead, which also answers with one backward pass (backprop.js draws
// it). "Learn" (POST /api/learn) takes one SGD step on a copy of the network that
// belongs to this page: the server answers with a session id, sent with every request
// from then on, until "reset" (POST /api/reset) goes back to the loaded weights.

"use strict";

(function () {
  const SEND_SIDE = 112;        // the side of the image sent to the server
  const PEN_WIDTH = 18;         // in canvas pixels (280 wide): MNIST-like strokes
  const MIN_INTERVAL_MS = 60;   // do not ask more often than this while drawing

  const pad = document.getElementById("pad");
  const ctx = pad.getContext("2d");
  const seen = document.getElementById("seen");
  const hiddenCanvas = document.getElementById("hidden");
  const predictionEl = document.getElementById("prediction");
  const confidenceEl = document.getElementById("confidence");
  const statusEl = document.getElementById("status");
  const probsEl = document.getElementById("probs");
  const hiddenNameEl = document.getElementById("hidden-name");
  const modelInfoEl = document.getElementById("model-info");
  const labelsEl = document.getElementById("labels");
  const learnButton = document.getElementById("learn");
  const resetButton = document.getElementById("reset");
  const lrSelect = document.getElementById("lr");
  const learnStatusEl = document.getElementById("learn-status");
  const Backprop = window.ChainruleBackprop;

  const small = document.createElement("canvas");
  small.width = SEND_SIDE;
  small.height = SEND_SIDE;
  const smallCtx = small.getContext("2d", { willReadFrequently: true });

  let classNames = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
  let drawing = false;
  let last = null;
  let hasInk = false;
  let changed = false;
  let inFlight = false;
  let lastSent = 0;
  let timer = null;
  let chosen = null;       // the true digit the person chose, or null
  let session = null;      // this page's learning session on the server, or null
  let steps = 0;
  let action = null;       // "learn" or "reset", waiting for the request in flight
  let lastDigit = null;    // the 28x28 digit of the last answer

  // -- the model ----------------------------------------------------------------------
  function describeModel(info) {
    if (!info.available) {
      modelInfoEl.textContent = "No model is loaded yet: predictions will start when one is.";
      return;
    }
    let text = "Model: " + info.name;
    if (info.config && info.config.hidden_size) {
      const input = info.config.input_size !== undefined ? info.config.input_size
        : (info.input_shape || []).join("\u00d7");
      text += " (" + input + " \u2192 " + info.config.hidden_size +
              " \u2192 " + info.config.output_size + ")";
    }
    if (info.source) text += ". " + info.source.charAt(0).toUpperCase() + info.source.slice(1);
    if (typeof info.accuracy === "number") {
      text += ". Accuracy " + (100 * info.accuracy).toFixed(1) + "%" +
              (info.accuracy_on ? " on " + info.accuracy_on : "");
    }
    modelInfoEl.textContent = text + ".";
  }

  function loadModel() {
    fetch("/api/model")
      .then((r) => r.json())
      .then((info) => {
        if (Array.isArray(info.class_names) && info.class_names.length) classNames = info.class_names;
        buildBars();
        buildLabels();
        describeModel(info);
        if (info.graph) Backprop.drawGraph(info.graph);
        if (info.learning && info.learning.lr !== undefined) lrSelect.value = String(info.learning.lr);
      })
      .catch(() => { modelInfoEl.textContent = "Could not reach the server."; });
  }

  // -- probability bars ---------------------------------------------------------------
  function buildBars() {
    probsEl.textContent = "";
    classNames.forEach((name) => {
      const li = document.createElement("li");
      const label = document.createElement("span");
      label.className = "name";
      label.textContent = name;
      const track = document.createElement("span");
      track.className = "track";
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.display = "block";
      track.appendChild(fill);
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = "";
      li.append(label, track, value);
      probsEl.appendChild(li);
    });
  }

  function showProbabilities(probs, best) {
    const items = probsEl.children;
    for (let k = 0; k < items.length; k++) {
      const p = k < probs.length ? probs[k] : 0;
      items[k].querySelector(".fill").style.width = (100 * p).toFixed(1) + "%";
      items[k].querySelector(".value").textContent = probs.length ? (100 * p).toFixed(1) + "%" : "";
      items[k].classList.toggle("top", k === best);
      items[k].classList.toggle("chosen", k === chosen);
      // The exact value, for whoever reads the page's numbers (and the tests).
      if (probs.length) items[k].dataset.p = String(p); else delete items[k].dataset.p;
    }
  }

  // -- the true digit, learn and reset -------------------------------------------------
  function buildLabels() {
    labelsEl.textContent = "";
    classNames.forEach((name, k) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = name;
      b.dataset.label = String(k);
      b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", () => choose(k));
      labelsEl.appendChild(b);
    });
  }

  function choose(k) {
    chosen = k;
    for (const b of labelsEl.children) {
      b.setAttribute("aria-pressed", b.dataset.label === String(k) ? "true" : "false");
    }
    learnButton.disabled = !hasInk;
    if (hasInk) { changed = true; schedule(); }
  }

  function learnText() {
    if (!session) return "The loaded weights answer.";
    return steps + (steps === 1 ? " step" : " steps") + " learned on this page's own copy " +
      "of the network (lr " + lrSelect.value + "); the loaded weights are unchanged.";
  }

  learnButton.addEventListener("click", () => request("learn"));
  resetButton.addEventListener("click", () => request("reset"));

  function request(kind) {
    action = kind;
    markSync();
    if (!inFlight) send();
  }

  function forgetSession(message) {
    session = null;
    steps = 0;
    resetButton.disabled = true;
    learnStatusEl.textContent = message;
  }

  // -- the drawing pad ----------------------------------------------------------------
  function clearPad() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, pad.width, pad.height);
    hasInk = false;
    changed = false;
    predictionEl.textContent = "?";
    predictionEl.dataset.state = "empty";
    chosen = null;
    lastDigit = null;
    for (const b of labelsEl.children) b.setAttribute("aria-pressed", "false");
    learnButton.disabled = true;
    Backprop.clear();
    markSync();
    confidenceEl.textContent = "";
    statusEl.textContent = "";
    showProbabilities([], -1);
    const sctx = seen.getContext("2d");
    sctx.fillStyle = "#000";
    sctx.fillRect(0, 0, seen.width, seen.height);
    drawHidden([]);
  }

  function point(event) {
    // The canvas may be shown smaller than its 280x280 pixels (phones).
    const rect = pad.getBoundingClientRect();
    return {
      x: (event.clientX - rect.left) * (pad.width / rect.width),
      y: (event.clientY - rect.top) * (pad.height / rect.height),
    };
  }

  function stroke(from, to) {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = PEN_WIDTH;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
    hasInk = true;
    changed = true;
    markSync();
  }

  pad.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    drawing = true;
    last = point(event);
    stroke(last, last);   // a tap leaves a dot
    schedule();
  });

  pad.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    event.preventDefault();
    // Coalesced events are the points the browser merged into this one: using them
    // keeps fast strokes smooth.
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of (events.length ? events : [event])) {
      const p = point(e);
      stroke(last, p);
      last = p;
    }
    schedule();
  });

  function endStroke(event) {
    if (!drawing) return;
    drawing = false;
    last = null;
    if (pad.hasPointerCapture(event.pointerId)) pad.releasePointerCapture(event.pointerId);
    schedule();
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  document.getElementById("clear").addEventListener("click", clearPad);

  // -- asking the server --------------------------------------------------------------
  function markSync() {
    // "done" once everything drawn or pressed has been answered (tests wait for it).
    pad.dataset.sync = (inFlight || changed || timer !== null || action) ? "pending" : "done";
  }

  function schedule() {
    if (!changed || inFlight || timer !== null) { markSync(); return; }
    const wait = Math.max(0, MIN_INTERVAL_MS - (performance.now() - lastSent));
    timer = setTimeout(() => { timer = null; send(); }, wait);
    markSync();
  }

  function drawingPixels() {
    smallCtx.imageSmoothingEnabled = true;
    smallCtx.imageSmoothingQuality = "high";
    smallCtx.fillStyle = "#000";
    smallCtx.fillRect(0, 0, SEND_SIDE, SEND_SIDE);
    smallCtx.drawImage(pad, 0, 0, SEND_SIDE, SEND_SIDE);
    const data = smallCtx.getImageData(0, 0, SEND_SIDE, SEND_SIDE).data;
    const pixels = new Array(SEND_SIDE * SEND_SIDE);
    for (let i = 0; i < pixels.length; i++) {
      // Grey ink: the red channel is the grey level. Three decimals are plenty.
      pixels[i] = Math.round(data[4 * i] / 0.255) / 1000;
    }
    return pixels;
  }

  function send() {
    let kind = action;
    action = null;
    if (kind === "reset" && !session) kind = null;
    if (!kind && !hasInk) { changed = false; markSync(); return; }
    if (kind === "learn" && (!hasInk || chosen === null)) kind = null;
    let url = "/predict";
    let payload = { pixels: drawingPixels(), width: SEND_SIDE, height: SEND_SIDE };
    if (session) payload.session = session;
    if (kind === "reset") {
      url = "/api/reset";
      payload = { session: session };
    } else if (kind === "learn") {
      url = "/api/learn";
      payload.label = chosen;
      payload.lr = parseFloat(lrSelect.value);
    } else if (chosen !== null) {
      url = "/api/backprop";
      payload.label = chosen;
    }
    if (kind !== "reset") changed = false;
    inFlight = true;
    markSync();
    lastSent = performance.now();
    fetch(url, { method: "POST", headers: { "Content-Type": "application/json" },
                 body: JSON.stringify(payload) })
      .then((r) => r.json().then((answer) => ({ ok: r.ok, status: r.status, answer })))
      .then(({ ok, status, answer }) => {
        if (status === 404 && session) {
          // Dropped to make room for newer sessions (or already reset): start again
          // from the loaded weights, and show their answer.
          forgetSession("This page's learning session was dropped on the server; " +
                        "the loaded weights answer again.");
          changed = true;
          return;
        }
        if (!ok) throw new Error(answer.error || "the server refused the request");
        if (kind === "reset") {
          forgetSession("Reset: the loaded weights answer again.");
          changed = true;   // ask again, so that the original probabilities show
          return;
        }
        if (kind === "learn") {
          session = answer.session;
          steps = answer.steps;
          resetButton.disabled = false;
          learnStatusEl.textContent = learnText();
        }
        if (hasInk) showAnswer(answer);
      })
      .catch((err) => {
        statusEl.textContent = "Error: " + err.message;
        statusEl.classList.add("error");
      })
      .finally(() => {
        inFlight = false;
        if (action) send();
        else schedule();   // the person may have drawn more meanwhile
      });
  }

  function showAnswer(answer) {
    statusEl.classList.remove("error");
    const best = answer.prediction;
    predictionEl.textContent = answer.label !== undefined ? answer.label : String(best);
    predictionEl.dataset.state = "shown";
    confidenceEl.textContent = (100 * answer.probabilities[best]).toFixed(1) + "% sure";
    statusEl.textContent = "answered in " + answer.milliseconds + " ms";
    showProbabilities(answer.probabilities, best);
    showSeen(answer.input);
    hiddenNameEl.textContent = answer.hidden_layer ? "(" + answer.hidden_layer + ", " +
      answer.hidden.length + " units)" : "";
    drawHidden(answer.hidden);
    lastDigit = answer.input;
    if (answer.input_grad && chosen !== null) {
      Backprop.show(answer, lastDigit);
      learnButton.disabled = false;
    }
  }

  function showSeen(values) {
    const sctx = seen.getContext("2d");
    const image = sctx.createImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      const v = Math.round(255 * (values[i] || 0));
      image.data[4 * i] = v;
      image.data[4 * i + 1] = v;
      image.data[4 * i + 2] = v;
      image.data[4 * i + 3] = 255;
    }
    sctx.putImageData(image, 0, 0);
  }

  function drawHidden(values) {
    const hctx = hiddenCanvas.getContext("2d");
    const w = hiddenCanvas.width;
    const h = hiddenCanvas.height;
    hctx.fillStyle = "#000";
    hctx.fillRect(0, 0, w, h);
    const n = values.length;
    if (!n) return;
    // As many columns as make the squares fill the canvas best.
    let cols = Math.ceil(Math.sqrt((n * w) / h));
    let rows = Math.ceil(n / cols);
    const size = Math.floor(Math.min(w / cols, h / rows));
    cols = Math.floor(w / size);
    rows = Math.ceil(n / cols);
    let top = 0;
    for (const v of values) top = Math.max(top, Math.abs(v));
    for (let k = 0; k < n; k++) {
      const level = top > 0 ? Math.abs(values[k]) / top : 0;
      const g = Math.round(255 * level);
      hctx.fillStyle = "rgb(" + g + "," + Math.round(g * 0.85 + 20 * level) + "," + Math.round(80 + 175 * level) + ")";
      const x = (k % cols) * size;
      const y = Math.floor(k / cols) * size;
      hctx.fillRect(x + 1, y + 1, size - 2, size - 2);
    }
  }

  buildBars();
  buildLabels();
  clearPad();
  loadModel();
})();
