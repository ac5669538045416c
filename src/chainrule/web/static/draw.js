// The drawing page: a canvas to draw on, and the network's reading of it, live.
//
// The canvas is white ink on black, like MNIST. While the person draws, the page sends
// the drawing to POST /predict, shrunk to 112x112 by the browser so that a request
// stays small; the server turns it into a 28x28 MNIST digit (crop, fit 20x20, centre by
// centre of mass) and answers with the class probabilities, the first hidden layer's
// activations and the 28x28 digit it actually classified, which is shown too.
// At most one request is in flight; drawing while it is out only marks the drawing as
// changed, and the newest drawing is sent when the answer arrives.

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

  // -- the model ----------------------------------------------------------------------
  function describeModel(info) {
    if (!info.available) {
      modelInfoEl.textContent = "No model is loaded yet: predictions will start when one is.";
      return;
    }
    let text = "Model: " + info.name;
    if (info.config && info.config.hidden_size) {
      text += " (" + info.config.input_size + " \u2192 " + info.config.hidden_size +
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
        describeModel(info);
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
    }
  }

  // -- the drawing pad ----------------------------------------------------------------
  function clearPad() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, pad.width, pad.height);
    hasInk = false;
    changed = false;
    predictionEl.textContent = "?";
    predictionEl.dataset.state = "empty";
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
  function schedule() {
    if (!changed || inFlight || timer !== null) return;
    const wait = Math.max(0, MIN_INTERVAL_MS - (performance.now() - lastSent));
    timer = setTimeout(() => { timer = null; send(); }, wait);
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
    if (!hasInk) { changed = false; return; }
    changed = false;
    inFlight = true;
    lastSent = performance.now();
    const body = JSON.stringify({ pixels: drawingPixels(), width: SEND_SIDE, height: SEND_SIDE });
    fetch("/predict", { method: "POST", headers: { "Content-Type": "application/json" }, body })
      .then((r) => r.json().then((answer) => ({ ok: r.ok, answer })))
      .then(({ ok, answer }) => {
        if (!ok) throw new Error(answer.error || "the server refused the drawing");
        if (hasInk) showAnswer(answer);
      })
      .catch((err) => {
        statusEl.textContent = "Error: " + err.message;
        statusEl.classList.add("error");
      })
      .finally(() => {
        inFlight = false;
        schedule();   // the person may have drawn more meanwhile
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
  clearPad();
  loadModel();
})();
