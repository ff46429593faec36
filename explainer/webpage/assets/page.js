/* The exported page: draw, preprocess (preprocess.js), run the network with onnxruntime-web,
 * show the prediction, the "not a digit" verdict and every layer's maps; click a layer for
 * all its maps, click a cell of a convolution for its window and arithmetic.
 *
 * window.explainer holds what the page computed last (for tests and the curious):
 * {ready: Promise, manifest, last: {image, values, logits, probs, guess, verdict, stroke, score
 *  (the not-a-digit detector's, null without one)},
 *  timings: {firstPrediction (ms since the page opened), updates: [ms per update, from the first
 *  input it answers (a pointer move, Clear, Undo) to its pictures drawn], parts: [{wait,
 *  preprocess, steps, network, answer, layers, detail} ms per update]}}, and idle() (a Promise:
 *  the updates under way are done), draw(strokes), predict28(image) and rgba() (the canvas).
 *
 * Fast while drawing: inputs that come during an update are answered together by the next one
 * (never queued one by one); only the layers on screen are redrawn (the others when they come
 * into view); the preprocessing's slow first runs are paid while the runtime loads.
 */
(function () {
  "use strict";
  const M = window.EXPLAINER_MODEL.manifest;
  const RT = window.EXPLAINER_RUNTIME;
  const PEN = 20;  // stroke width in the canvas's 256 px: the app's 22 px on its 280 px canvas
  const THUMBS = 8, DETAIL_MAX = 64;
  const STEP_TITLES = {
    original: "your picture (grey)", inverted: "inverted: ink is white",
    cleaned: "background removed", cropped: "cropped to the ink",
    stroke: "stroke width like MNIST", scaled: "scaled to fit 20×20", centred: "28×28, centred on mass",
  };
  const api = { manifest: M, last: null, timings: { firstPrediction: null, updates: [], parts: [] } };
  const ITEM = M.dataset === "mnist" ? "a digit" : "one item";  // Fashion-MNIST: clothing
  window.explainer = api;
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };

  // --- the runtime --------------------------------------------------------------------------
  const bytesOf = (b64) => { const s = atob(b64), a = new Uint8Array(s.length); for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i); return a; };
  async function gunzip(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
  const mark = (name) => { api.timings[name] = performance.now(); };
  async function startSession() {
    ort.env.wasm.numThreads = 1;  // file:// pages are not cross-origin isolated: one thread
    ort.env.wasm.proxy = false;
    mark("scriptsLoaded");
    ort.env.wasm.wasmBinary = await gunzip(bytesOf(RT.wasm_gz));
    mark("wasmUnzipped");
    // The wasm glue runs as a blob: module (import() of a file:// module is refused), whose
    // import.meta.url cannot be a base for relative URLs: the page's own address stands in.
    const glue = RT.glue.split("import.meta.url").join(JSON.stringify(location.href));
    ort.env.wasm.wasmPaths = { mjs: URL.createObjectURL(new Blob([glue], { type: "text/javascript" })) };
    const open = (b64) => ort.InferenceSession.create(bytesOf(b64), { executionProviders: ["wasm"] });
    const model = window.EXPLAINER_MODEL;
    return [await open(model.onnx), model.detector ? await open(model.detector) : null];
  }

  // --- numbers ------------------------------------------------------------------------------
  const size = (shape) => shape.reduce((a, b) => a * b, 1);
  function probabilities(logits) {  // softmax(logits / T): the library's calibrated probability
    const z = Array.from(logits, (v) => v / M.temperature), m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  }
  function confidenceText(p) {
    if (p > 0.999) return "> 99.9%";
    if (p > 0 && p < 0.001) return "< 0.1%";
    return (100 * p).toFixed(1) + "%";
  }
  function energy(logits) {  // explainer.nets.ood.energy: -logsumexp(logits)
    const m = Math.max(...logits);
    return -(m + Math.log(logits.reduce((a, v) => a + Math.exp(v - m), 0)));
  }
  function verdict(logits, image, stroke, score) {  // explainer.reading.predict.Predictor.not_a_digit
    const rule = M.ood, det = M.detector;
    if (rule) {  // the ink cues, and the energy when there is no detector (OodRule.reasons)
      let ink = 0;
      for (const v of image) ink += v > 0.5 ? 1 : 0;
      ink /= image.length;
      if (stroke >= rule.blot_stroke) return "a blot or a dot, not pen strokes";
      if (!(rule.ink_range[0] <= ink && ink <= rule.ink_range[1])) return "far more (or less) ink than any digit";
      if (!det && energy(logits) > rule.threshold) return "unlike every digit the model learned";
    }
    return det && score > det.threshold ? det.reason : "";
  }

  // f(left) when the browser has nothing else to do, or after 100 ms at the latest (idle periods
  // do not always come, e.g. in headless chromium while drawing; Safari has none); left(): the ms
  // f may still take, the idle period's or a slice of 8 ms
  function whenIdle(f) {
    const slice = () => { const end = performance.now() + 8; return () => end - performance.now(); };
    if (!window.requestIdleCallback) { setTimeout(() => f(slice()), 30); return; }
    requestIdleCallback((d) => f(d.didTimeout ? slice() : () => d.timeRemaining()), { timeout: 100 });
  }

  // --- pictures -----------------------------------------------------------------------------
  // One opaque pixel (little-endian RGBA in a Uint32) per grey level, and per 1/1024 of a
  // diverging scale: orange (255, 159, 64) above zero, blue (74, 163, 255) below.
  const LEVELS = 1024, opaque = 0xff000000, rgb = (r, g, b) => (opaque | (b << 16) | (g << 8) | r) >>> 0;
  const GREY = Uint32Array.from({ length: 256 }, (_, g) => rgb(g, g, g));
  const tint = (r, g, b) => Uint32Array.from({ length: LEVELS + 1 }, (_, k) => {
    const t = k / LEVELS;
    return rgb(Math.round(r * t), Math.round(g * t), Math.round(b * t));
  });
  const POS = tint(255, 159, 64), NEG = tint(74, 163, 255);
  function paint(canvas, data, h, w, scale, offset = 0) {  // scale > 0: diverging; 0: grey [0, 1]
    if (canvas.width !== w || canvas.height !== h || !canvas.img) {
      canvas.width = w; canvas.height = h;
      canvas.ctx = canvas.getContext("2d");
      canvas.img = canvas.ctx.createImageData(w, h);
      canvas.px = new Uint32Array(canvas.img.data.buffer);
    }
    const px = canvas.px, n = h * w;
    if (!scale) {
      for (let i = 0; i < n; i++) {
        const v = data[offset + i];
        px[i] = GREY[v > 0 ? (v < 1 ? (255 * v + 0.5) | 0 : 255) : 0];
      }
    } else {
      const k = LEVELS / scale;
      for (let i = 0; i < n; i++) {
        const v = data[offset + i];
        px[i] = v >= 0 ? POS[Math.min((v * k + 0.5) | 0, LEVELS)] : NEG[Math.min((-v * k + 0.5) | 0, LEVELS)];
      }
    }
    canvas.ctx.putImageData(canvas.img, 0, 0);
    return canvas;
  }
  function scaleOf(values) {
    let m = 0;
    for (let i = 0; i < values.length; i++) { const a = Math.abs(values[i]); if (a > m) m = a; }
    return m || 1;
  }
  function grid(layer) {  // how a record's values are drawn: [maps, h, w]
    const s = layer.shape;
    if (s.length === 3) return [s[0], s[1], s[2]];
    if (s.length === 2) return [1, s[0], s[1]];
    const n = size(s), w = Math.min(n, 32);
    return [1, Math.ceil(n / w), w];
  }

  // --- drawing ------------------------------------------------------------------------------
  const pad = $("pad"), pctx = pad.getContext("2d", { willReadFrequently: true });
  let strokes = [], current = null;
  function ink(ctx, list) {  // white strokes of the pen on black, in the canvas's 256 px
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, 256, 256);
    ctx.strokeStyle = "#fff"; ctx.lineWidth = PEN; ctx.lineCap = "round"; ctx.lineJoin = "round";
    for (const s of list) {
      ctx.beginPath(); ctx.moveTo(s[0][0], s[0][1]);
      for (const [x, y] of s.length > 1 ? s.slice(1) : [s[0]]) ctx.lineTo(x, y);
      ctx.stroke();
    }
  }
  const redraw = () => ink(pctx, strokes);
  function point(e) {
    const r = pad.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * 256, ((e.clientY - r.top) / r.height) * 256];
  }
  pad.addEventListener("pointerdown", (e) => {
    pad.setPointerCapture(e.pointerId); current = [point(e)]; strokes.push(current); redraw(); schedule(e.timeStamp);
  });
  pad.addEventListener("pointermove", (e) => {
    if (!current) return;
    const moves = (e.getCoalescedEvents && e.getCoalescedEvents()) || [];
    for (const c of moves.length ? moves : [e]) current.push(point(c));
    redraw(); schedule(moves.length ? moves[0].timeStamp : e.timeStamp);  // the first move's time
  });
  const end = () => { current = null; };  // the picture is as the last move left it: nothing to update
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  $("clear").addEventListener("click", (e) => { strokes = []; redraw(); schedule(e.timeStamp); });
  $("undo").addEventListener("click", (e) => { strokes.pop(); redraw(); schedule(e.timeStamp); });
  api.draw = (list) => { strokes = list.map((s) => s.map((p) => [p[0], p[1]])); redraw(); schedule(); return api.idle(); };
  api.rgba = () => Array.from(pctx.getImageData(0, 0, 256, 256).data);

  // --- one update: preprocess, run, show ----------------------------------------------------
  // An input marks the picture as changed since its time (the event's own, so the wait for the
  // page to take it counts too); one update at a time answers every input since then, so a
  // stroke's moves are never queued behind one another.
  let session = null, detector = null, busy = null, since = null, early = false;
  function schedule(at = performance.now()) {
    warming = false;  // the learner's own strokes warm the preprocessing from here on
    if (!session) { early = true; return; }  // drawn while loading: answered once ready
    if (since === null) since = Math.min(at, performance.now());
    if (busy) return;
    busy = (async () => {
      while (since !== null) { const t = since; since = null; await update(t); }
    })().finally(() => { busy = null; });
  }
  api.idle = async () => { while (busy) await busy; };
  function stopwatch(start) {  // lap(name): the ms since the last lap, added to parts[name]
    const parts = { wait: performance.now() - start };
    let t = performance.now();
    const lap = (name) => { const now = performance.now(); parts[name] = (parts[name] || 0) + now - t; t = now; };
    return { parts, lap, done: () => { api.timings.updates.push(t - start); api.timings.parts.push(parts); } };
  }
  let shownPixels = null;  // the pad's RGBA that the page shows the network's reading of
  function unchanged(rgba) {  // the same pixels as shown (a pen put down draws nothing yet)
    if (!shownPixels) return false;
    const a = new Uint32Array(rgba.buffer), b = new Uint32Array(shownPixels.buffer);
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  async function update(start) {
    const rgba = pctx.getImageData(0, 0, 256, 256).data;
    if (unchanged(rgba)) return;
    shownPixels = rgba;
    const clock = stopwatch(start);
    const pre = explainerPreprocess.preprocess(rgba, 256, 256);
    clock.lap("preprocess");
    showSteps(pre);
    clock.lap("steps");
    if (pre.noInk) showEmpty(pre.noInk);
    else await run(pre.image, pre.stroke, clock.lap);
    clock.lap("answer");
    clock.done();
  }
  async function infer(image, stroke) {  // the network (and detector) on a 28×28 picture: api.last
    const x = new ort.Tensor("float32", Float32Array.from(image), [1, 1, 28, 28]);
    const out = await session.run({ x });
    const netScore = detector ? (await detector.run({ x })).score.data[0] : null;
    const values = M.layers.map((_, i) => out["v" + i].data);
    const logits = Array.from(values[M.logits]), probs = probabilities(logits);
    // Detector.scores: the net's logit plus energy_weight times the classifier's energy
    const score = detector ? netScore + (M.detector.energy_weight || 0) * energy(logits) : null;
    let guess = 0;
    probs.forEach((p, i) => { if (p > probs[guess]) guess = i; });
    api.last = { image: Array.from(image), values, logits, probs, guess, stroke, score, verdict: verdict(logits, image, stroke, score) };
  }
  async function run(image, stroke, lap = () => {}) {
    await infer(image, stroke);
    lap("network");
    showAnswer(api.last);
    lap("answer");
    showLayers();
    lap("layers");
    if (detail) fillDetail();
    lap("detail");
  }
  api.predict28 = async (image) => { await api.idle(); shownPixels = null; await run(image, 2.5); return api.last; };

  const stepViews = [];
  const setSize = (e, w, h) => {  // style only when it changes: no layout work otherwise
    if (e.style.width !== w) e.style.width = w;
    if (e.style.height !== h) e.style.height = h;
  };
  function showSteps(pre) {
    const box = $("steps");
    (pre.steps || []).forEach(([name, p], k) => {
      if (!stepViews[k]) {
        const f = el("div", "step"), c = el("canvas"), label = el("div");
        f.append(c, label);
        box.append(f);
        stepViews[k] = { f, c, label };
      }
      const v = stepViews[k], s = 84 / Math.max(p.h, p.w), title = STEP_TITLES[name] || name;
      paint(v.c, p.d, p.h, p.w, 0);
      setSize(v.c, p.w * s + "px", p.h * s + "px");
      if (v.label.textContent !== title) v.label.textContent = title;
    });
    stepViews.forEach((v, k) => { v.f.hidden = k >= (pre.steps || []).length; });
  }
  function showEmpty(message) {
    api.last = null;
    $("guess").textContent = "?"; $("sure").textContent = ""; $("verdict").textContent = "";
    $("status").textContent = message[0].toUpperCase() + message.slice(1) + ".";
    $("bars").hidden = true;
  }
  const bars = [];  // per class: {row, fill, text}, made once
  function showAnswer(r) {
    const names = M.class_names;
    $("status").textContent = "The network reads:";
    $("guess").textContent = names[r.guess];
    $("sure").textContent = "sure: " + confidenceText(r.probs[r.guess]);
    $("verdict").textContent = r.verdict ? `This does not look like ${ITEM}: ${r.verdict}.` : "";
    $("bars").hidden = false;
    r.probs.forEach((p, i) => {
      if (!bars[i]) {
        const row = el("div", "bar"), track = el("div", "track"), fill = el("div", "fill"), text = el("span");
        track.append(fill);
        row.append(el("span", "", names[i]), track, text);
        $("bars").append(row);
        bars[i] = { row, fill, text };
      }
      bars[i].fill.style.width = (100 * p).toFixed(1) + "%";
      bars[i].text.textContent = confidenceText(p);
      bars[i].row.classList.toggle("top", i === r.guess);
    });
  }

  // --- the layers, by block -----------------------------------------------------------------
  // Only the rows on screen (or near it) are drawn after each update; a row drawn for older
  // values is drawn again when it comes into view. Rows in a folded block are never on screen.
  const rows = [];
  let openLayer = null;
  const watcher = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const i = Number(e.target.dataset.layer);
      rows[i].onScreen = e.isIntersecting;
      if (e.isIntersecting) paintLayer(i);
    }
  }, { rootMargin: "200px 0px" });
  function buildLayers() {
    const box = $("layers"), blocks = [];
    M.layers.forEach((layer, i) => {  // top-level layers (no dot in their name) run together
      const name = layer.name.includes(".") ? layer.block : "";
      let b = blocks[blocks.length - 1];
      if (!b || b.name !== name) { b = { name, items: [] }; blocks.push(b); }
      b.items.push(i);
    });
    const big = M.layers.length > 40;  // a big network: blocks start folded
    for (const b of blocks) {
      const d = el(b.name ? "details" : "div", "block");
      d.open = !big;
      if (b.name) d.append(el("summary", "", `${b.name} — ${b.items.length} layer${b.items.length > 1 ? "s" : ""}`));
      for (const i of b.items) d.append(layerRow(i));
      box.append(d);
    }
  }
  function layerRow(i) {  // a layer's row: its name, what it does, and its first maps
    const layer = M.layers[i], row = el("div", "layer"), label = el("div"), maps = el("div", "maps");
    const [n, h, w] = grid(layer), canvases = [];
    label.append(el("div", "name", layer.name), el("div", "desc", `${layer.description} · ${layer.shape.join("×")}`));
    for (let c = 0; c < Math.min(n, THUMBS); c++) {
      const cv = maps.appendChild(el("canvas"));
      cv.style.height = (h === 1 ? 12 : 40) + "px";
      cv.style.width = (h === 1 ? Math.min(w * 6, 240) : (40 * w) / h) + "px";
      canvases.push(cv);
    }
    if (n > THUMBS) maps.append(el("span", "more", `+${n - THUMBS} more`));
    row.append(label, maps);
    row.dataset.layer = i;
    row.addEventListener("click", () => { openLayer = i; showDetail(i); $("detail-panel").scrollIntoView({ behavior: "smooth" }); });
    rows[i] = { row, canvases, onScreen: false, drawn: null };
    watcher.observe(row);
    return row;
  }
  function paintLayer(i) {  // the row's maps from the last values, unless already drawn from them
    const r = rows[i], values = api.last && api.last.values[i];
    if (!values || r.drawn === values) return;
    const [, h, w] = grid(M.layers[i]), scale = scaleOf(values);
    r.canvases.forEach((c, k) => paint(c, values, h, w, scale, k * h * w));
    r.drawn = values;
  }
  function showLayers() {
    rows.forEach((r, i) => {
      if (r.onScreen) paintLayer(i);
      if (r.row.classList.contains("open") !== (i === openLayer)) r.row.classList.toggle("open");
    });
    fillLater();
  }
  // The rows off screen are drawn too, in idle time between updates (a row at a time while the
  // browser has time to spare), so a printed page or a full-page screenshot is whole.
  let filling = false;
  const stale = (r, i) => api.last && r.drawn !== api.last.values[i];
  function fillLater() {
    if (filling) return;
    filling = true;
    whenIdle(function fill(left) {
      for (let i = 0; i < rows.length && left() > 1 && !busy; i++) {
        if (stale(rows[i], i)) paintLayer(i);
      }
      if (rows.some(stale)) whenIdle(fill);
      else filling = false;
    });
  }
  window.addEventListener("beforeprint", () => rows.forEach((_, i) => paintLayer(i)));
  let detail = null;  // the open layer's panel: {layer, canvases}
  function showDetail(i) {  // build the panel of layer i, then fill it
    const layer = M.layers[i], box = $("detail-maps"), [n, h, w] = grid(layer);
    if (!api.last) return;
    $("detail-panel").hidden = false;
    $("detail-title").textContent = `${layer.name}: ${layer.description} (${layer.shape.join("×")})`;
    $("detail-help").textContent = layer.conv
      ? "Click a cell to see the window of the input it reads and the arithmetic that makes it."
      : "Orange: positive values, blue: negative (brightness: size, within this layer).";
    box.textContent = "";
    detail = { layer: i, canvases: [] };
    for (let c = 0; c < Math.min(n, DETAIL_MAX); c++) {
      const fig = el("figure"), cv = el("canvas");
      cv.style.height = (112 * h) / w + "px";
      cv.addEventListener("click", (e) => {
        const r = cv.getBoundingClientRect();
        const y = Math.floor(((e.clientY - r.top) / r.height) * h), x = Math.floor(((e.clientX - r.left) / r.width) * w);
        showCell(i, c, y, x);
      });
      fig.append(cv, el("figcaption", "", n > 1 ? `map ${c}` : ""));
      box.append(fig);
      detail.canvases.push(cv);
    }
    if (n > DETAIL_MAX) box.append(el("span", "more", `(the first ${DETAIL_MAX} of ${n} maps)`));
    if (!cell || cell[0] !== i) { cell = null; $("arith").textContent = ""; }
    fillDetail();
    showLayers();
  }
  function fillDetail() {  // the open layer's maps (and the chosen cell) from the last values
    const i = detail.layer, values = api.last.values[i], [, h, w] = grid(M.layers[i]), scale = scaleOf(values);
    detail.canvases.forEach((cv, c) => paint(cv, values, h, w, scale, c * h * w));
    if (cell) showCell(...cell);
  }
  const f4 = (v) => (Math.abs(v) >= 1000 ? v.toExponential(2) : v.toFixed(3));
  const floats = (b64) => new Float32Array(bytesOf(b64).buffer);
  let cell = null;  // [layer, map, row, column] of the cell whose arithmetic is shown
  function showCell(i, c, y, x) {
    if (!api.last) return;
    const layer = M.layers[i], box = $("arith"), [, h, w] = grid(layer), value = api.last.values[i][c * h * w + y * w + x];
    cell = [i, c, y, x];
    const cv = detail && detail.canvases[c];
    if (cv) {  // the cell itself, marked on its map
      const ctx = cv.getContext("2d");
      ctx.strokeStyle = "#ffd166"; ctx.lineWidth = Math.max(0.25, w / 112);
      ctx.strokeRect(x + ctx.lineWidth / 2, y + ctx.lineWidth / 2, 1 - ctx.lineWidth, 1 - ctx.lineWidth);
      ctx.fillStyle = "rgba(255, 209, 102, 0.35)"; ctx.fillRect(x, y, 1, 1);
    }
    box.textContent = "";
    box.append(el("div", "sum", `${layer.name}, map ${c}, row ${y}, column ${x}: ${f4(value)}`));
    const conv = layer.conv, src = conv && M.layers.findIndex((l) => l.name === layer.inputs[0]);
    if (!conv || (src < 0 && layer.inputs[0] !== "input")) return;
    const input = src >= 0 ? api.last.values[src] : api.last.image;
    const [cOut, cPer, kh, kw] = conv.weight_shape, [cin, ih, iw] = src >= 0 ? grid(M.layers[src]) : [1, 28, 28];
    conv.w = conv.w || floats(conv.weight);
    conv.b = conv.b || (conv.bias ? floats(conv.bias) : null);
    const g = Math.floor(c / (cOut / conv.groups));
    let total = conv.b ? conv.b[c] : 0;
    const parts = [];
    for (let ci = 0; ci < cPer; ci++) {
      const ch = g * cPer + ci, table = el("table");
      let part = 0;
      for (let ky = 0; ky < kh; ky++) {
        const tr = el("tr");
        for (let kx = 0; kx < kw; kx++) {
          const yy = y * conv.stride[0] - conv.padding[0] + ky * conv.dilation[0];
          const xx = x * conv.stride[1] - conv.padding[1] + kx * conv.dilation[1];
          const v = yy >= 0 && yy < ih && xx >= 0 && xx < iw ? input[ch * ih * iw + yy * iw + xx] : 0;
          const k = conv.w[((c * cPer + ci) * kh + ky) * kw + kx];
          part += v * k;
          tr.append(el("td", "", `${f4(v)}×${f4(k)}`));
        }
        table.append(tr);
      }
      total += part;
      parts.push([ch, part, table]);
    }
    const shown = parts.slice().sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, 3);
    for (const [ch, part, table] of shown) {
      box.append(el("div", "", `input map ${ch}: window × kernel, summed = ${f4(part)}`), table);
    }
    const rest = parts.length - shown.length, more = rest > 0 ? ` (the ${shown.length} largest shown, ${rest} more)` : "";
    box.append(el("div", "sum", `sum over all ${parts.length} input map(s)${more}` +
      `${conv.b ? ` + bias ${f4(conv.b[c])}` : ""} = ${f4(total)}; the network computed ${f4(value)}`));
  }

  // --- start --------------------------------------------------------------------------------
  const SEVEN = [[[70, 62], [186, 60], [150, 130], [118, 200]]];  // a first digit to look at
  // The preprocessing runs slowly until the browser has compiled it (a first dot took 100-330
  // ms, later ones 5-15): drawings that take its paths (a dot is thinned, a long line
  // thickened, the seven left as it is) are preprocessed a few times over in idle time after
  // the first prediction (while the runtime loads they delayed it by 150 ms), until the
  // learner's first input.
  const WARM_UP = [[[[100, 90], [104, 92]]], [[[60, 20], [200, 236]]], SEVEN], WARM_ROUNDS = 4;
  let warming = true;
  const pause = () => new Promise((resolve) => whenIdle(resolve));
  async function warmUp() {
    const c = el("canvas");
    c.width = c.height = 256;
    const ctx = c.getContext("2d", { willReadFrequently: true });
    for (let k = 0; k < WARM_ROUNDS * WARM_UP.length; k++) {
      await pause();
      if (!warming) return;
      ink(ctx, WARM_UP[k % WARM_UP.length]);
      explainerPreprocess.preprocess(ctx.getImageData(0, 0, 256, 256).data, 256, 256);
    }
    mark("warmedUp");
  }
  api.ready = (async () => {
    if (ITEM !== "a digit") {
      $("about").textContent = $("about").textContent.replace("Draw a digit", "Draw one item of clothing");
      document.querySelector(".hint").textContent = "Mouse, pen or finger: draw one item, big, in the middle.";
    }
    const starting = startSession();  // the wasm compiles on other threads meanwhile
    buildLayers();
    strokes = SEVEN.map((s) => s.slice());
    redraw();
    shownPixels = pctx.getImageData(0, 0, 256, 256).data;
    const pre = explainerPreprocess.preprocess(shownPixels, 256, 256);
    showSteps(pre);
    [session, detector] = await starting;
    mark("sessionReady");
    await run(pre.image, pre.stroke);
    api.timings.firstPrediction = performance.now();
    warmUp();
    if (early) schedule();  // the learner drew while the network loaded
  })().catch((err) => {
    $("status").textContent = "The network could not start in this browser: " + err.message;
    throw err;
  });
})();
