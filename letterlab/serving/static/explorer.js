/* letterlab explorer: the page served at / by `letterlab serve RUN [RUN_B]`. Plain JS, no libraries,
   nothing fetched from the network; every URL is relative (the page works under a path prefix).

   The JSON API it calls (see letterlab/serving/explore.py):
     GET  v1/explorer/runs                         the one or two runs
     POST v1/explorer/explain                      {image_file | image | test_index, invert, runs, detail: "top" | "full"}
     GET  v1/explorer/test/{run}                   confusion matrix and per-class precision/recall
     GET  v1/explorer/test/{run}/cell?true=A&predicted=B
     GET  v1/explorer/compare, v1/explorer/compare/cell?which=...   (two runs only)
     GET  v1/explorer/replay/{run}                 (runs with replay: true)

   Stable selectors (used by tests/test_explorer_browser.py; keep them):
     #canvas                    the drawing canvas, 280x280, white strokes on black (Pointer Events)
     #clear, #undo              clear everything / undo the last stroke
     #file-input                <input type=file>: a PNG/JPEG sent as the input (drop on #canvas works too)
     #invert                    checkbox: the file is a dark letter on light (sent as "invert": true; files only)
     #source-note               what the input is (drawing, file name, test image #i)
     #seen                      the 28x28 image the model sees (a canvas); data-source = draw | file | test
     .top-k[data-run="0"]       one run's guesses; data-top = its top class; data-kind = "top" | "full"
       .bar[data-class="A"]     one row per class, most probable first; data-probability = 0..1
     #timing                    "updated in N ms"; data-ms = the last client round trip in ms
     #inside .inside-run[data-run="0"]   one run's look inside (data-input = the explained input's number)
       .layer img, .units, .heat[data-kind="saliency" | "gradcam"], .neighbours figure
     #confusion-runs button[data-run]    chooses the run of the matrix (two runs only)
     .confusion[data-run="0"] button[data-true="A"][data-predicted="B"]   a cell; data-count = its count
     #per-class                 precision / recall / F1 / support per class
     #cell-images               the chosen cell's images; data-true, data-predicted, data-count
       .thumb[data-index]       one test image (click: explain it in sections 1 and 2)
     #mcnemar button[data-which="only_a_right"]   (both_right, only_a_right, only_b_right, both_wrong)
     #compare-images .thumb[data-index]           that cell's images; #compare-images has data-which, data-count
     #replay-runs button[data-run], #replay-slider (input type=range, value = frame index),
     #replay-epoch (data-epoch = the epoch shown), #replay-predictions, #replay-filters, #replay-maps, #replay-play
     window.explorer            {timings: [{detail, ms, server_ms}], counts: {top, full, cell, compare}, inputs}
*/
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const LINE_WIDTH = 24; // canvas px of 280: about 2.4 pixels of 28, like notMNIST's strokes
  const PLAY_MS = 700;

  const state = {
    runs: [],
    strokes: [],          // each a list of [x, y] in canvas pixels
    drawing: null,        // {id, points} while a pointer is down
    source: { kind: "draw" },  // or {kind: "file", b64, name} or {kind: "test", index}
    background: null,     // a 28x28 canvas drawn under the strokes (a file's or test image's input)
    seq: 0, shownSeq: 0, busy: false, wanted: null,  // see ask()
    lastMs: {},
    confusionRun: 0, confusion: {}, selectedCell: null, focusCell: [0, 0],
    replay: {}, replayRun: null, playTimer: null,
  };
  const explorer = { timings: [], counts: { top: 0, full: 0, cell: 0, compare: 0 }, inputs: 0, state };
  window.explorer = explorer;

  /* ---------- small helpers ---------- */

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  const percent = (x, digits = 1) => `${(100 * x).toFixed(digits)}%`;
  const count = (n) => Number(n).toLocaleString("en");
  const runLabel = (id) => (state.runs.length > 1 ? `Model ${id + 1}` : "The model");
  const runById = (id) => state.runs.find((r) => r.id === id);

  async function api(path, options) {
    const response = await fetch(path, options);
    let body = null;
    try { body = await response.json(); } catch (_) { /* not JSON */ }
    if (!response.ok) {
      const error = new Error((body && body.error) || `${response.status} ${response.statusText}`);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  function showStatus(message, kind = "error") {
    const box = $("status");
    box.textContent = message;
    box.className = kind;
    box.hidden = !message;
  }

  /* ---------- 1. drawing ---------- */

  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");

  // A stroke is painted as its first dot and then segment by segment, exactly as it was while drawn,
  // so a redraw (Undo) gives the same pixels and the same answer as before.
  function paintDot([x, y]) {
    ctx.fillStyle = "#fff";
    ctx.beginPath();
    ctx.arc(x, y, LINE_WIDTH / 2, 0, 2 * Math.PI);
    ctx.fill();
  }

  function paintSegment(a, b) {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = LINE_WIDTH;
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    ctx.stroke();
  }

  function paintStroke(points) {
    paintDot(points[0]);
    for (let i = 1; i < points.length; i += 1) paintSegment(points[i - 1], points[i]);
  }

  function redraw() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (state.background) {
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(state.background, 0, 0, canvas.width, canvas.height);
    }
    for (const stroke of state.strokes) paintStroke(stroke);
  }

  function point(event) {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (event.pointerType === "mouse" && event.button !== 0) return;
    event.preventDefault();
    try { canvas.setPointerCapture(event.pointerId); } catch (_) { /* a synthetic or finished pointer */ }
    if (state.source.kind !== "draw" && !state.background) setSource({ kind: "draw" }); // nothing shown yet: start afresh
    const points = [point(event)];
    state.drawing = { id: event.pointerId, points };
    state.strokes.push(points);
    paintStroke(points);
    updateSourceNote();
    live();
  });

  canvas.addEventListener("pointermove", (event) => {
    const drawing = state.drawing;
    if (!drawing || event.pointerId !== drawing.id) return;
    event.preventDefault();
    const events = (event.getCoalescedEvents && event.getCoalescedEvents().length) ? event.getCoalescedEvents() : [event];
    for (const e of events) {
      const last = drawing.points[drawing.points.length - 1];
      const next = point(e);
      drawing.points.push(next);
      paintSegment(last, next);
    }
    live();
  });

  function endStroke(event) {
    const drawing = state.drawing;
    if (!drawing || event.pointerId !== drawing.id) return;
    state.drawing = null;
    try { canvas.releasePointerCapture(event.pointerId); } catch (_) { /* already released */ }
    ask("full");
  }
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);
  canvas.addEventListener("contextmenu", (event) => event.preventDefault());

  $("clear").addEventListener("click", () => {
    state.strokes = [];
    setSource({ kind: "draw" });
    forget();
    resetResults();
  });

  $("undo").addEventListener("click", () => {
    if (!state.strokes.length) {
      if (state.source.kind !== "draw") { $("clear").click(); }
      return;
    }
    state.strokes.pop();
    redraw();
    updateSourceNote();
    if (!state.strokes.length && state.source.kind === "draw") { forget(); resetResults(); return; }
    ask("full");
  });

  function setSource(source) {
    state.source = source;
    state.background = null;
    state.strokes = [];
    redraw();
    updateSourceNote();
  }

  function updateSourceNote() {
    const source = state.source;
    let note = "";
    if (source.kind === "file") note = `Showing your file “${source.name}”.`;
    if (source.kind === "test") note = `Showing test image #${source.index}${source.label ? `, labelled ${source.label}` : ""}.`;
    if (note && state.strokes.length) note += " Your strokes are drawn on top of it.";
    else if (note) note += " Draw on it to change it, or Clear.";
    else if (!state.strokes.length) note = "White strokes on black, like the training images.";
    else note = `${state.strokes.length} stroke${state.strokes.length > 1 ? "s" : ""}.`;
    $("source-note").textContent = note;
    $("undo").disabled = !state.strokes.length && source.kind === "draw";
  }

  /* dropping or choosing a file */

  function readFile(file) {
    if (!file) return;
    if (file.type && !file.type.startsWith("image/")) { showStatus(`${file.name} is not an image (a PNG or JPEG file works)`); return; }
    const reader = new FileReader();
    reader.onload = () => {
      const b64 = String(reader.result).split(",", 2)[1] || "";
      setSource({ kind: "file", b64, name: file.name });
      forget();
      ask("full");
    };
    reader.onerror = () => showStatus(`could not read ${file.name}`);
    reader.readAsDataURL(file);
  }

  $("invert").addEventListener("change", () => { // the file shown again, converted the other way
    if (state.source.kind !== "file") return;
    setSource(state.source);
    forget();
    ask("full");
  });

  $("file-input").addEventListener("change", (event) => {
    readFile(event.target.files[0]);
    event.target.value = ""; // the same file again is a new choice
  });
  for (const type of ["dragenter", "dragover"]) {
    canvas.addEventListener(type, (event) => { event.preventDefault(); canvas.classList.add("dragover"); });
  }
  canvas.addEventListener("dragleave", () => canvas.classList.remove("dragover"));
  canvas.addEventListener("drop", (event) => {
    event.preventDefault();
    canvas.classList.remove("dragover");
    readFile(event.dataTransfer && event.dataTransfer.files[0]);
  });
  // a file dropped beside the canvas must not replace the page
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  /* ---------- asking the server ---------- */

  function requestBody() {
    if (state.strokes.length) return { image_file: canvas.toDataURL("image/png").split(",", 2)[1] };
    if (state.source.kind === "file") return { image_file: state.source.b64, invert: $("invert").checked };
    if (state.source.kind === "test") return { test_index: state.source.index };
    return null;
  }

  /* One request in flight at a time: while drawing, a cheap "top" answer, and when it arrives the
     latest canvas is sent again; when a stroke ends, "full" (everything inside). A wish made while a
     request is in flight waits for it, and a "full" wish is never downgraded to "top". */
  function ask(detail) {
    state.wanted = state.wanted === "full" ? "full" : detail;
    if (!state.busy) sendWanted();
  }
  const live = () => ask("top");

  async function sendWanted() {
    const detail = state.wanted;
    state.wanted = null;
    if (!detail) return;
    state.busy = true;
    try { await explain(detail); } finally {
      state.busy = false;
      if (state.wanted) sendWanted();
    }
  }

  function forget() { // answers already asked for are not shown any more
    state.shownSeq = ++state.seq;
    state.wanted = null;
  }

  async function explain(detail) {
    const body = requestBody();
    if (!body) return;
    body.detail = detail;
    const seq = ++state.seq;
    if (detail === "full") $("inside").classList.add("loading");
    const started = performance.now();
    try {
      const answer = await api("v1/explorer/explain", {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
      });
      const ms = performance.now() - started;
      explorer.timings.push({ detail, ms, server_ms: answer.milliseconds });
      if (seq < state.shownSeq) return; // cleared, or another input chosen, since it was asked
      state.shownSeq = seq;
      showStatus("");
      showAnswer(answer, detail, ms, seq);
      explorer.counts[detail] += 1;
    } catch (error) {
      if (seq < state.shownSeq) return;
      state.shownSeq = seq;
      if (detail === "full") resetResults(); // no answer for this input: show none rather than the last one's
      showStatus(`Could not explain this image: ${error.message}`);
    } finally {
      if (detail === "full") $("inside").classList.remove("loading");
    }
  }

  function explainTest(index) {
    setSource({ kind: "test", index });
    forget();
    ask("full");
    $("draw-section").scrollIntoView({ behavior: "smooth", block: "start" });
  }

  /* ---------- showing an answer ---------- */

  function inputCanvas(rows) {
    const small = document.createElement("canvas");
    small.width = small.height = 28;
    const g = small.getContext("2d");
    const data = g.createImageData(28, 28);
    rows.forEach((row, y) => row.forEach((v, x) => {
      const i = 4 * (28 * y + x);
      data.data[i] = data.data[i + 1] = data.data[i + 2] = v;
      data.data[i + 3] = 255;
    }));
    g.putImageData(data, 0, 0);
    return small;
  }

  function showAnswer(answer, detail, ms, seq) {
    const seen = $("seen");
    const small = inputCanvas(answer.input);
    seen.getContext("2d").drawImage(small, 0, 0);
    seen.dataset.source = state.source.kind;
    if (!state.strokes.length && state.source.kind !== "draw") { // a file or test image: show it under the strokes to come
      state.background = small;
      if (answer.label) state.source.label = answer.label;
      redraw();
      updateSourceNote();
    }
    explorer.inputs = seq;
    showTopK(answer.results, detail);
    const timing = $("timing");
    timing.dataset.ms = ms.toFixed(1);
    state.lastMs[detail] = ms;
    const parts = [];
    if (detail === "top" || state.lastMs.top !== undefined) parts.push(`guesses updated in ${Math.round(state.lastMs.top ?? ms)} ms`);
    if (detail === "full") parts.push(`inside view in ${Math.round(ms)} ms`);
    timing.textContent = parts.join(" · ");
    timing.title = "round trips measured in this page, from asking the server to the answer arriving";
    if (detail === "full") showInside(answer, seq);
    else $("inside").classList.add("stale");
  }

  function showTopK(results, detail) {
    const holder = $("predictions");
    holder.replaceChildren(...results.map((result) => {
      const run = runById(result.run) || { kind: "", name: "" };
      const top = result.top[0];
      return el("div", { class: "top-k", dataset: { run: result.run, top: top.class, kind: detail } },
        el("h3", { text: runLabel(result.run) + (run.kind ? ` (${run.kind})` : "") }),
        el("p", { class: "guess" }, "guesses ", el("b", { text: top.class }), ` · ${percent(top.probability, 0)} sure`),
        result.top.map((entry) => el("div", { class: "bar", dataset: { class: entry.class, probability: entry.probability } },
          el("span", { class: "letter", text: entry.class }),
          el("span", { class: "track", "aria-hidden": "true" }, el("span", { class: "fill", style: `width: ${(100 * entry.probability).toFixed(1)}%` })),
          el("span", { class: "pct", text: percent(entry.probability) }))));
    }));
  }

  function resetResults() {
    $("predictions").replaceChildren(el("p", { class: "muted small", id: "predictions-empty", text: "Draw something to see the model's guesses." }));
    $("timing").textContent = "";
    state.lastMs = {};
    $("seen").getContext("2d").clearRect(0, 0, 28, 28);
    $("inside").replaceChildren(el("p", { class: "muted small", text: "Finish a stroke (or pick an image) to look inside." }));
    $("inside").classList.remove("stale", "loading");
    showStatus("");
  }

  const image = (src, alt, cls) => el("img", { src, alt, class: cls, decoding: "async" });
  function zoomed(img, smallest = 260) { // a small grid shown twice (or more) its size, a big one as it is
    img.addEventListener("load", () => {
      const zoom = Math.max(1, Math.floor(smallest / img.naturalWidth) + 1);
      img.style.width = `${img.naturalWidth * Math.min(zoom, 3)}px`;
    });
    return img;
  }

  function showInside(answer, seq) {
    const inside = $("inside");
    inside.classList.remove("stale", "loading");
    inside.replaceChildren(...answer.results.filter((r) => r.detail).map((result) => {
      const d = result.detail;
      const run = runById(result.run) || { kind: "", name: "" };
      const parts = [el("h3", { text: `${runLabel(result.run)}${run.kind ? ` (${run.kind})` : ""}` },
        el("span", { class: "muted small", text: run.name && run.name !== run.kind ? ` · “${run.name}”` : "" }))];
      if (d.layers && d.layers.length) {
        parts.push(el("h4", { text: "Layers" }),
          el("p", { class: "small muted", text: "Each small square is one filter's feature map: bright where it found its pattern." }),
          el("div", { class: "layers" }, d.layers.map((layer) => el("figure", { class: "layer", dataset: { name: layer.name } },
            zoomed(image(layer.png, layer.title, "pixelated")), el("figcaption", { text: layer.title })))));
      }
      if (d.units) {
        const u = d.units;
        parts.push(el("h4", { text: "Hidden units" }),
          el("p", { class: "small muted", text: "Each stripe is one hidden unit: bright means it fired for this image." }),
          el("figure", { class: "units-strip" }, image(u.activations_png, u.title, "strip"), el("figcaption", { text: u.title })));
        if (u.top_units && u.top_units.length) {
          parts.push(el("p", { class: "small muted", text: "What the most active units look for (their weights on the 28×28 pixels):" }),
            el("div", { class: "units" }, u.top_units.map((t) => el("figure", { dataset: { unit: t.unit } },
              image(t.weights_png, `weights of unit ${t.unit}`), el("figcaption", { text: `unit ${t.unit}: ${t.activation.toFixed(2)}` })))));
        }
      }
      const heat = [el("figure", { class: "heat", dataset: { kind: "saliency" } }, image(d.saliency_png, "saliency map"),
        el("figcaption", { text: "Saliency: pixels that would change the answer most" }))];
      if (d.gradcam_png) {
        heat.push(el("figure", { class: "heat", dataset: { kind: "gradcam" } }, image(d.gradcam_png, "Grad-CAM overlay"),
          el("figcaption", { text: "Grad-CAM: where the last conv layer looked" })));
      }
      parts.push(el("h4", { text: "Which pixels mattered" }), el("div", { class: "figure-row" }, heat));
      if (d.neighbours && d.neighbours.length) {
        parts.push(el("h4", { text: "Nearest training images" }),
          el("p", { class: "small muted", text: "The training images this model finds most alike, with their labels (distance in its last hidden layer)." }),
          el("div", { class: "neighbours" }, d.neighbours.map((n) => el("figure", { dataset: { index: n.index, label: n.label } },
            image(n.png, `training image ${n.index}, labelled ${n.label}`),
            el("figcaption", {}, el("b", { text: n.label }), ` · ${n.distance.toFixed(2)}`)))));
      }
      return el("div", { class: "inside-run", dataset: { run: result.run, input: seq } }, parts);
    }));
  }

  /* ---------- 3. the test set ---------- */

  async function showConfusion(run) {
    state.confusionRun = run;
    for (const b of $("confusion-runs").querySelectorAll("button")) b.setAttribute("aria-pressed", String(Number(b.dataset.run) === run));
    let data = state.confusion[run];
    if (!data) {
      try {
        data = state.confusion[run] = await api(`v1/explorer/test/${run}`);
      } catch (error) {
        $("confusion-holder").replaceChildren(el("p", { class: "muted", text: `No test results: ${error.message}` }));
        return;
      }
    }
    if (state.confusionRun !== run) return;
    renderConfusion(run, data);
    renderPerClass(data);
    if (state.selectedCell && state.selectedCell.run !== run) $("cell-images").replaceChildren();
  }

  function renderConfusion(run, data) {
    const classes = data.classes;
    const matrix = data.confusion;
    let maxRight = 1, maxWrong = 1;
    matrix.forEach((row, t) => row.forEach((n, p) => {
      if (t === p) maxRight = Math.max(maxRight, n); else maxWrong = Math.max(maxWrong, n);
    }));
    const [ft, fp] = state.focusCell;
    const table = el("table", { class: "confusion", dataset: { run }, role: "grid",
      "aria-label": `${runLabel(run)}'s confusion matrix: rows are the true letters, columns the model's answers` },
    el("thead", {}, el("tr", {}, el("th", { class: "corner", scope: "col" }, "true↓", el("br"), "said→"),
      classes.map((c) => el("th", { scope: "col", text: c })))),
    el("tbody", {}, matrix.map((row, t) => el("tr", {}, el("th", { scope: "row", text: classes[t] }),
      row.map((n, p) => {
        const right = t === p;
        const strength = n ? 0.12 + 0.88 * n / (right ? maxRight : maxWrong) : 0;
        const colour = right ? `rgba(31, 138, 76, ${strength.toFixed(3)})` : `rgba(200, 64, 47, ${strength.toFixed(3)})`;
        const label = `true ${classes[t]}, said ${classes[p]}: ${n} image${n === 1 ? "" : "s"}${right ? " (right)" : ""}`;
        return el("td", {}, el("button", {
          type: "button", class: [right ? "diagonal" : "", n ? "" : "zero"].join(" ").trim() || null,
          dataset: { true: classes[t], predicted: classes[p], count: n, row: t, col: p },
          tabindex: t === ft && p === fp ? "0" : "-1", "aria-label": label, title: label,
          style: n ? `background: ${colour}; color: ${strength > 0.55 ? "#fff" : "inherit"}` : null,
          onclick: () => { state.focusCell = [t, p]; showCell(run, classes[t], classes[p]); },
          text: String(n),
        }));
      })))));
    table.addEventListener("keydown", (event) => moveFocus(event, table, classes.length));
    const legend = el("p", { class: "legend" }, `${runLabel(run)}: ${percent(data.accuracy)} right on ${count(data.n)} test images.`,
      el("span", { class: "swatch", style: "background: rgba(31,138,76,.7)" }), "right",
      el("span", { class: "swatch", style: "background: rgba(200,64,47,.7)" }), "mistakes (darker = more)");
    $("confusion-holder").replaceChildren(table, legend);
    markSelected();
  }

  function moveFocus(event, table, size) {
    const button = event.target.closest("button[data-row]");
    if (!button) return;
    let t = Number(button.dataset.row), p = Number(button.dataset.col);
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (moves[event.key]) { t += moves[event.key][0]; p += moves[event.key][1]; }
    else if (event.key === "Home") p = event.ctrlKey ? (t = 0) : 0;
    else if (event.key === "End") p = event.ctrlKey ? (t = size - 1) : size - 1;
    else return;
    event.preventDefault();
    t = Math.min(size - 1, Math.max(0, t));
    p = Math.min(size - 1, Math.max(0, p));
    const next = table.querySelector(`button[data-row="${t}"][data-col="${p}"]`);
    for (const b of table.querySelectorAll("button[tabindex='0']")) b.tabIndex = -1;
    next.tabIndex = 0;
    next.focus();
    state.focusCell = [t, p];
  }

  function markSelected() {
    const cell = state.selectedCell;
    for (const b of document.querySelectorAll(".confusion button.selected")) b.classList.remove("selected");
    if (!cell) return;
    const b = document.querySelector(`.confusion[data-run="${cell.run}"] button[data-true="${cell.true}"][data-predicted="${cell.predicted}"]`);
    if (b) b.classList.add("selected");
  }

  function renderPerClass(data) {
    const rows = data.classes.map((c) => {
      const m = data.per_class[c] || {};
      const cellOf = (x) => el("td", { class: x < data.accuracy - 0.1 ? "low" : null, text: x === undefined || x === null ? "–" : x.toFixed(2) });
      return el("tr", { dataset: { class: c } }, el("td", { text: c }), cellOf(m.precision), cellOf(m.recall), cellOf(m.f1),
        el("td", { text: m.support === undefined ? "–" : count(m.support) }));
    });
    $("per-class-holder").replaceChildren(
      el("table", { class: "per-class", id: "per-class" },
        el("thead", {}, el("tr", {}, ["letter", "precision", "recall", "F1", "images"].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, rows)),
      el("p", { class: "small muted" }, el("b", { text: "Precision" }), ": of the images the model called X, the share that were X. ",
        el("b", { text: "Recall" }), ": of the real Xs, the share it found. Red: well below the overall accuracy."));
  }

  const shownOf = (data) => (data.images.length < data.count ? ` (the first ${count(data.images.length)} shown)` : "");

  function thumbs(images, caption) {
    return el("div", { class: "thumbs" }, images.map((item) => el("button", {
      type: "button", class: "thumb", dataset: { index: item.index },
      title: `test image #${item.index}: click to look inside the model`,
      onclick: () => explainTest(item.index),
    }, image(item.png, `test image ${item.index}`), caption(item))));
  }

  async function showCell(run, trueClass, predicted) {
    state.selectedCell = { run, true: trueClass, predicted };
    markSelected();
    const panel = $("cell-images");
    panel.replaceChildren(el("p", { class: "muted small", text: "loading…" }));
    let data;
    try {
      data = await api(`v1/explorer/test/${run}/cell?true=${encodeURIComponent(trueClass)}&predicted=${encodeURIComponent(predicted)}`);
    } catch (error) {
      panel.replaceChildren(el("p", { class: "muted", text: `Could not load these images: ${error.message}` }));
      return;
    }
    const cell = state.selectedCell;
    if (!cell || cell.run !== run || cell.true !== trueClass || cell.predicted !== predicted) return; // another cell was chosen since
    const right = trueClass === predicted;
    const what = right ? `True ${trueClass}, and the model said ${predicted} (right)` : `True ${trueClass}, but the model said ${predicted}`;
    Object.assign(panel.dataset, { true: trueClass, predicted, count: data.count, run });
    panel.replaceChildren(
      el("h3", { text: `${what}: ${count(data.count)} image${data.count === 1 ? "" : "s"}` }),
      el("p", { class: "small muted", text: data.count ? `Most confident first${shownOf(data)}. Click an image to look inside the model.` : "No test images here." }),
      thumbs(data.images, (item) => el("span", {}, el("span", { class: right ? "right" : "wrong", text: `${item.true}→${item.predicted}` }),
        el("br"), `${percent(item.confidence, 0)} sure`)));
    explorer.counts.cell += 1;
  }

  /* ---------- 4. two models ---------- */

  async function showCompare() {
    let data;
    try { data = await api("v1/explorer/compare"); } catch (error) {
      if (error.status !== 404) showStatus(`Could not compare the two models: ${error.message}`);
      return;
    }
    $("compare-section").hidden = false;
    const cell = (which, label, disagree) => el("button", {
      type: "button", class: disagree ? "disagree" : null, dataset: { which, count: data[which] },
      "aria-label": `${label}: ${data[which]} images`, onclick: () => showCompareCell(which, label),
    }, count(data[which]), el("small", { text: label }));
    const a = "Model 1", b = "Model 2";
    const table = el("table", { class: "mcnemar" },
      el("thead", {}, el("tr", {}, el("td"), el("th", { scope: "col", text: `${b} right` }), el("th", { scope: "col", text: `${b} wrong` }))),
      el("tbody", {},
        el("tr", {}, el("th", { scope: "row", class: "row", text: `${a} right` }), el("td", {}, cell("both_right", "both right")),
          el("td", {}, cell("only_a_right", `only ${a} right`, true))),
        el("tr", {}, el("th", { scope: "row", class: "row", text: `${a} wrong` }), el("td", {}, cell("only_b_right", `only ${b} right`, true)),
          el("td", {}, cell("both_wrong", "both wrong")))));
    const p = data.p_value;
    const pText = p < 0.001 ? "p < 0.001" : `p = ${p.toFixed(3)}`;
    const better = data.only_a_right > data.only_b_right ? a : b;
    const verdict = data.only_a_right === data.only_b_right
      ? `${pText}: the two models disagree equally often each way; neither is better on this test set.`
      : data.significant
        ? `${pText}: ${better} is right more often where they disagree (${count(data.only_a_right)} vs ${count(data.only_b_right)}), and chance alone would rarely give a gap this big (McNemar's test).`
        : `${pText}: ${better} is ahead where they disagree (${count(data.only_a_right)} vs ${count(data.only_b_right)}), but chance could give a gap like this; not significant (McNemar's test).`;
    $("mcnemar").replaceChildren(
      el("p", { class: "small" }, el("b", { text: a }), `: ${data.a} · `, el("b", { text: b }), `: ${data.b} · ${count(data.n)} test images`),
      table, el("p", { class: "verdict", id: "mcnemar-verdict", text: verdict }));
  }

  async function showCompareCell(which, label) {
    for (const b of $("mcnemar").querySelectorAll("button")) b.classList.toggle("selected", b.dataset.which === which);
    const panel = $("compare-images");
    panel.replaceChildren(el("p", { class: "muted small", text: "loading…" }));
    let data;
    try { data = await api(`v1/explorer/compare/cell?which=${encodeURIComponent(which)}`); } catch (error) {
      panel.replaceChildren(el("p", { class: "muted", text: `Could not load these images: ${error.message}` }));
      return;
    }
    if (!$("mcnemar").querySelector(`button.selected[data-which="${which}"]`)) return;
    Object.assign(panel.dataset, { which, count: data.count });
    const said = (name, letter, truth) => el("span", { class: letter === truth ? "right" : "wrong", text: `${name}: ${letter}` });
    panel.replaceChildren(
      el("h3", { text: `${label[0].toUpperCase()}${label.slice(1)}: ${count(data.count)} image${data.count === 1 ? "" : "s"}` }),
      el("p", { class: "small muted", text: data.count ? `Click an image to look inside both models${shownOf(data)}.` : "No test images here." }),
      thumbs(data.images, (item) => el("span", {}, `true ${item.true}`, el("br"), said("1", item.a_predicted, item.true), " ",
        said("2", item.b_predicted, item.true))));
    explorer.counts.compare += 1;
  }

  /* ---------- 5. training replay ---------- */

  async function loadReplays() {
    const runs = state.runs.filter((r) => r.replay);
    const loaded = await Promise.all(runs.map(async (run) => {
      try { state.replay[run.id] = await api(`v1/explorer/replay/${run.id}`); return run.id; } catch (_) { return null; }
    }));
    const ids = loaded.filter((id) => id !== null && state.replay[id].frames.length);
    if (!ids.length) return;
    $("replay-section").hidden = false;
    const picker = $("replay-runs");
    picker.hidden = ids.length < 2;
    picker.replaceChildren(...ids.map((id) => el("button", {
      type: "button", dataset: { run: id }, "aria-pressed": "false", onclick: () => chooseReplay(id),
      text: `${runLabel(id)} (${runById(id).kind})`,
    })));
    chooseReplay(ids[0]);
  }

  function chooseReplay(id) {
    stopPlay();
    state.replayRun = id;
    for (const b of $("replay-runs").querySelectorAll("button")) b.setAttribute("aria-pressed", String(Number(b.dataset.run) === id));
    const slider = $("replay-slider");
    slider.max = String(state.replay[id].frames.length - 1);
    slider.value = slider.max;
    showFrame();
  }

  function showFrame() {
    const replay = state.replay[state.replayRun];
    if (!replay) return;
    const slider = $("replay-slider");
    const frame = replay.frames[Number(slider.value)];
    const last = replay.frames[replay.frames.length - 1].epoch;
    $("replay-epoch").textContent = `epoch ${frame.epoch} of ${last}`;
    $("replay-epoch").dataset.epoch = frame.epoch;
    slider.setAttribute("aria-valuetext", `epoch ${frame.epoch}`);
    $("replay-predictions").src = frame.predictions_png;
    $("replay-filters").src = frame.filters_png;
    $("replay-maps-figure").hidden = !frame.feature_maps_png;
    if (frame.feature_maps_png) $("replay-maps").src = frame.feature_maps_png;
  }

  function stopPlay() {
    clearInterval(state.playTimer);
    state.playTimer = null;
    $("replay-play").textContent = "Play";
  }

  $("replay-slider").addEventListener("input", () => { stopPlay(); showFrame(); });
  $("replay-play").addEventListener("click", () => {
    if (state.playTimer) { stopPlay(); return; }
    const slider = $("replay-slider");
    if (slider.value === slider.max) slider.value = "0";
    showFrame();
    $("replay-play").textContent = "Pause";
    state.playTimer = setInterval(() => {
      if (Number(slider.value) >= Number(slider.max)) { stopPlay(); return; }
      slider.value = String(Number(slider.value) + 1);
      showFrame();
    }, PLAY_MS);
  });

  /* ---------- start ---------- */

  function describe(run) { // "cnn “my-run”, 93.1% right on 1,200 test images, 10 epochs"
    const preset = run.preset && run.preset !== run.kind && run.preset !== "custom" ? run.preset : run.kind;
    const name = run.name && run.name !== preset ? ` “${run.name}”` : "";
    const tested = run.test_accuracy === null || run.test_accuracy === undefined ? "not tested"
      : `${percent(run.test_accuracy)} right on ${count(run.test_n)} test images`;
    return `${preset}${name}, ${tested}${run.epochs ? `, ${run.epochs} epoch${run.epochs === 1 ? "" : "s"}` : ""}`;
  }

  async function start() {
    redraw();
    updateSourceNote();
    let data;
    try { data = await api("v1/explorer/runs"); } catch (error) {
      $("runs-summary").textContent = "";
      showStatus(`Could not load the models: ${error.message}`);
      return;
    }
    state.runs = data.runs;
    const classes = state.runs[0].classes;  // the runs' class names (the same for both runs)
    $("class-names").textContent = classes.length > 12 ? `${classes.length} classes (${classes.slice(0, 5).join(", ")}, …)` : `classes ${classes.join(", ")}`;
    $("runs-summary").replaceChildren(...state.runs.map((run, i) => el("span", { class: "run-summary", dataset: { run: run.id } },
      i ? " · " : "", el("b", { text: runLabel(run.id) }), `: ${describe(run)}`)));
    const picker = $("confusion-runs");
    picker.hidden = state.runs.length < 2;
    picker.replaceChildren(...state.runs.map((run) => el("button", {
      type: "button", dataset: { run: run.id }, "aria-pressed": "false", onclick: () => showConfusion(run.id),
      text: `${runLabel(run.id)} (${run.kind})`,
    })));
    showConfusion(state.runs[0].id);
    if (state.runs.length > 1) showCompare();
    loadReplays();
  }

  start();
})();
