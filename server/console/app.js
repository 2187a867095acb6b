// The nnserve console (issue 21): the Models and Try it panels, and the
// page's frame (tabs, status, the helpers training.js and serving.js use
// through window.nnConsole). Reads the JSON view of nnserve.v1
// (GET /v1/models, /v1/models/{m}) and infers through the Open Inference
// Protocol's REST endpoint (POST /v2/models/{m}/infer); talks to no other
// host. Builds every
// element with textContent (never innerHTML), so nothing a model's name or
// labels hold can run as markup; the Content-Security-Policy allows no
// inline script or style anyway.
(function () {
  'use strict';
  const { toMnist, fitStrokes, grayOfRgba, invertIfLight, FIELD } = window.nnPreprocess;
  const PAD = 280;       // the drawing canvas, pixels (10x the 28x28 field)
  const PEN = 18;        // pen width on the pad as shown, pixels
  const SCALE = 10;      // the scratch canvas a drawing is redrawn on: 10x the field

  let models = [];       // each model's ModelInfoResponse.model, as JSON

  // ---- small DOM helpers -------------------------------------------------
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(typeof c === 'string' || typeof c === 'number' ? String(c) : c);
    }
    return e;
  }
  function kv(label, value) { return el('span', {}, el('b', {}, label + ': '), String(value)); }
  function setStatus(text, bad) {
    const s = document.getElementById('status');
    s.textContent = text;
    s.classList.toggle('error', !!bad);
  }
  async function getJson(path) {
    const r = await fetch(path, { headers: { Accept: 'application/json' } });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || ('HTTP ' + r.status));
    return body;
  }

  // ---- panels --------------------------------------------------------------
  const PANELS = ['models', 'try', 'training', 'serving'];
  function show(panel) {
    if (!PANELS.includes(panel)) panel = 'models';
    for (const tab of document.querySelectorAll('.tab')) {
      tab.classList.toggle('active', tab.dataset.panel === panel);
    }
    for (const p of PANELS) document.getElementById('panel-' + p).hidden = p !== panel;
    if (location.hash !== '#' + panel) history.replaceState(null, '', '#' + panel);
  }

  // ---- Models panel --------------------------------------------------------
  const STATE = { VERSION_STATE_AVAILABLE: 'available', VERSION_STATE_LOADING: 'loading',
                  VERSION_STATE_FAILED: 'failed', VERSION_STATE_UNLOADING: 'unloading' };
  function fixed(x, digits) { return Number(x || 0).toFixed(digits); }

  function layerTable(layers) {
    const t = el('table', {}, el('tr', {}, el('th', {}, 'layer'), el('th', {}, 'kind'),
                                 el('th', {}, 'output shape'), el('th', { class: 'num' }, 'parameters')));
    for (const l of layers || []) {
      // outputShape is per image (no batch axis); Keras prints None for it.
      const shape = '(' + ['None'].concat(l.outputShape || []).join(', ') + ')';
      t.append(el('tr', {}, el('td', {}, l.name), el('td', {}, l.kind), el('td', {}, shape),
                  el('td', { class: 'num' }, Number(l.parameters).toLocaleString('en'))));
    }
    return t;
  }

  function historyBlock(history) {
    const out = el('div', {});
    for (const run of history || []) {
      const c = run.config || {};
      out.append(el('div', { class: 'kv' },
        kv('trained on', run.dataset + ' (' + run.trainExamples + ' images)'),
        kv('optimizer', String(c.optimizer || '').replace('OPTIMIZER_', '').toLowerCase()),
        kv('batch', c.batchSize), kv('threads', run.threads),
        kv('time', fixed(run.totalSeconds, 1) + ' s'),
        run.hasTest ? kv('test accuracy', fixed(100 * run.testAccuracy, 2) + ' %') : null,
        Number(run.baseVersion) > 0 ? kv('fine-tuned from version', run.baseVersion) : null,
        run.baseOrigin ? kv('base', run.baseOrigin) : null));
      const t = el('table', { class: 'history' }, el('tr', {},
        el('th', { class: 'num' }, 'epoch'), el('th', { class: 'num' }, 'loss'),
        el('th', { class: 'num' }, 'accuracy'), el('th', { class: 'num' }, 'val loss'),
        el('th', { class: 'num' }, 'val accuracy'), el('th', { class: 'num' }, 'seconds')));
      for (const e of run.epochs || []) {
        t.append(el('tr', {}, el('td', { class: 'num' }, e.epoch),
          el('td', { class: 'num' }, fixed(e.loss, 4)),
          el('td', { class: 'num' }, fixed(100 * e.accuracy, 2) + ' %'),
          el('td', { class: 'num' }, e.hasValidation ? fixed(e.valLoss, 4) : '–'),
          el('td', { class: 'num' }, e.hasValidation ? fixed(100 * e.valAccuracy, 2) + ' %' : '–'),
          el('td', { class: 'num' }, fixed(e.seconds, 2))));
      }
      out.append(t);
    }
    if (!out.childNodes.length) out.append(el('p', { class: 'hint' }, 'no training history'));
    return out;
  }

  function versionBlock(v, isDefault) {
    const input = v.input || {};
    const div = el('div', { class: 'version', 'data-version': v.version },
      el('div', { class: 'kv' },
        el('span', {}, el('b', {}, 'version ' + v.version + (isDefault ? ' (default)' : '') + ' ')),
        el('span', { class: 'state state-' + v.state }, STATE[v.state] || v.state),
        v.format ? kv('format', v.format) : null,
        v.architecture ? kv('architecture', v.architecture) : null,
        kv('input', (input.height || 28) + 'x' + (input.width || 28)),
        kv('parameters', Number(v.totalParameters).toLocaleString('en')),
        v.origin ? kv('origin', v.origin) : null,
        kv('loaded in', fixed(v.loadSeconds, 3) + ' s')));
    if (v.error) div.append(el('p', { class: 'error' }, v.error));
    if ((v.labels || []).length) {
      div.append(el('div', { class: 'kv' }, kv('labels', v.labels.join(', '))));
    }
    if ((v.layers || []).length) div.append(layerTable(v.layers));
    div.append(historyBlock(v.history));
    return div;
  }

  function renderModels() {
    const root = document.getElementById('models');
    root.replaceChildren();
    if (!models.length) root.append(el('p', { class: 'hint' }, 'The repository has no model.'));
    for (const m of models) {
      const b = m.batching || {};
      const card = el('article', { class: 'model', 'data-model': m.name },
        el('h2', {}, m.name),
        el('div', { class: 'kv' },
          kv('default version', m.defaultVersion),
          kv('max batch', b.maxBatchSize), kv('queue delay', b.maxQueueDelayMicros + ' µs'),
          kv('queue size', b.maxQueueSize), kv('workers', b.workers),
          kv('threads per worker', b.threadsPerWorker)));
      for (const v of m.versions || []) card.append(versionBlock(v, v.version === m.defaultVersion));
      root.append(card);
    }
  }

  async function loadModels() {
    try {
      // ListModels gives a summary; ModelInfo each model's versions in full
      // (layers, labels, history). A model gone in between keeps its summary.
      const list = await getJson('/v1/models');
      models = await Promise.all((list.models || []).map((m) =>
        getJson('/v1/models/' + encodeURIComponent(m.name)).then((info) => info.model || m, () => m)));
      renderModels();
      renderAnswerCards();
      document.dispatchEvent(new Event('nn-models'));
      setStatus(models.length + ' model' + (models.length === 1 ? '' : 's'));
    } catch (e) {
      setStatus('cannot list models: ' + e.message, true);
    }
  }

  // ---- Try it panel ----------------------------------------------------------
  // The models that can take a drawn digit: a version available, 28x28 input.
  function servingModels() {
    const out = [];
    for (const m of models) {
      const v = (m.versions || []).find((x) => x.version === m.defaultVersion &&
                                              x.state === 'VERSION_STATE_AVAILABLE');
      if (!v) continue;
      const input = v.input || {};
      if ((input.height || 28) !== FIELD || (input.width || 28) !== FIELD) continue;
      out.push({ name: m.name, version: v.version, labels: v.labels || [] });
    }
    return out;
  }

  function renderAnswerCards() {
    const root = document.getElementById('results');
    root.replaceChildren();
    const serving = servingModels();
    if (!serving.length) root.append(el('p', { class: 'hint' }, 'No model is available.'));
    for (const m of serving) {
      const card = el('div', { class: 'answer', 'data-model': m.name },
        el('h3', {}, m.name + ' v' + m.version, el('span', { class: 'latency' }, '')),
        el('div', { class: 'top' }, '–'));
      for (let i = 0; i < 10 && i < Math.max(10, m.labels.length); ++i) {
        card.append(el('div', { class: 'bar' }, el('span', { class: 'label' }, m.labels[i] ?? String(i)),
                       el('div', { class: 'track' }, el('div', { class: 'fill' })),
                       el('span', { class: 'p' }, '')));
      }
      root.append(card);
    }
  }

  function showAnswer(card, labels, probabilities, millis) {
    let best = 0;
    probabilities.forEach((p, i) => { if (p > probabilities[best]) best = i; });
    card.querySelector('.top').textContent = labels[best] ?? String(best);
    card.dataset.top = String(best);
    card.querySelector('.latency').textContent = millis.toFixed(1) + ' ms';
    card.querySelectorAll('.bar').forEach((bar, i) => {
      const p = probabilities[i] || 0;
      bar.classList.toggle('best', i === best);
      bar.querySelector('.fill').style.width = (100 * p).toFixed(1) + '%';
      bar.querySelector('.p').textContent = (100 * p).toFixed(1) + '%';
    });
    card.querySelector('h3').classList.remove('error');
  }

  let sequence = 0;  // one per image sent; answers to older ones are dropped
  async function inferAll(image) {
    const seq = ++sequence;
    const results = document.getElementById('results');
    results.dataset.seq = String(seq);
    const body = JSON.stringify({ inputs: [{ name: 'images', datatype: 'FP32',
                                             shape: [1, FIELD, FIELD], data: Array.from(image) }] });
    await Promise.all(servingModels().map(async (m) => {
      const card = results.querySelector('.answer[data-model="' + CSS.escape(m.name) + '"]');
      if (!card) return;
      const start = performance.now();
      try {
        const r = await fetch('/v2/models/' + encodeURIComponent(m.name) + '/infer', {
          method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
        const answer = await r.json();
        if (!r.ok) throw new Error(answer.error || ('HTTP ' + r.status));
        const out = (answer.outputs || []).find((o) => o.name === 'probabilities');
        if (!out) throw new Error('no probabilities in the answer');
        if (seq === sequence) showAnswer(card, m.labels, out.data, performance.now() - start);
      } catch (e) {
        if (seq !== sequence) return;
        card.querySelector('.top').textContent = '!';
        delete card.dataset.top;
        card.querySelector('.latency').textContent = e.message;
      }
    }));
    if (seq === sequence) results.dataset.doneSeq = String(seq);
  }

  // The pad: white strokes on black; each finished stroke is preprocessed
  // (preprocess.js) and sent to every model.
  function setUpPad() {
    const pad = document.getElementById('pad');
    const ctx = pad.getContext('2d', { willReadFrequently: true });
    const seen = document.getElementById('seen').getContext('2d');
    function clear() {
      ctx.fillStyle = '#000';
      ctx.fillRect(0, 0, PAD, PAD);
      seen.fillStyle = '#000';
      seen.fillRect(0, 0, FIELD, FIELD);
    }
    clear();
    // The drawing's strokes (pad pixels); empty for an upload, whose pixels
    // are taken as they are.
    let strokes = [];
    let uploaded = false;  // the pad shows an uploaded image
    // The strokes redrawn for the models (preprocess.js fitStrokes: a pen
    // in proportion to the digit, as MNIST's), as grey levels of a
    // SCALE x field canvas.
    function redrawn() {
      const fitted = fitStrokes(strokes, SCALE);
      const side = FIELD * SCALE;
      const scratch = document.createElement('canvas');
      scratch.width = side;
      scratch.height = side;
      const s = scratch.getContext('2d', { willReadFrequently: true });
      s.fillStyle = '#000';
      s.fillRect(0, 0, side, side);
      s.strokeStyle = '#fff';
      s.fillStyle = '#fff';
      s.lineWidth = fitted.width;
      s.lineCap = 'round';
      s.lineJoin = 'round';
      for (const stroke of fitted.strokes) {
        s.beginPath();
        s.moveTo(stroke[0].x, stroke[0].y);
        // A stroke of one point is a dot: a zero-length line draws nothing
        // in every browser, so draw the round cap as a disc.
        if (stroke.length === 1) {
          s.arc(stroke[0].x, stroke[0].y, fitted.width / 2, 0, 2 * Math.PI);
          s.fill();
          continue;
        }
        for (const p of stroke.slice(1)) s.lineTo(p.x, p.y);
        s.stroke();
      }
      return grayOfRgba(s.getImageData(0, 0, side, side).data, side * side);
    }
    function send() {
      const side = strokes.length ? FIELD * SCALE : PAD;
      const gray = strokes.length ? redrawn()
                                  : grayOfRgba(ctx.getImageData(0, 0, PAD, PAD).data, PAD * PAD);
      const image = toMnist(gray, side, side);
      if (image === null) return;
      const pixels = seen.createImageData(FIELD, FIELD);
      image.forEach((v, i) => {
        const g = Math.round(255 * v);
        pixels.data.set([g, g, g, 255], 4 * i);
      });
      seen.putImageData(pixels, 0, 0);
      inferAll(image);
    }
    let last = null;
    function point(event) {
      const r = pad.getBoundingClientRect();
      return { x: (event.clientX - r.left) * PAD / r.width, y: (event.clientY - r.top) * PAD / r.height };
    }
    function line(from, to) {
      ctx.strokeStyle = '#fff';
      ctx.lineWidth = PEN;
      ctx.lineCap = 'round';
      ctx.lineJoin = 'round';
      ctx.beginPath();
      ctx.moveTo(from.x, from.y);
      ctx.lineTo(to.x, to.y);
      ctx.stroke();
    }
    // Pointer events cover mouse, pen and touch alike.
    pad.addEventListener('pointerdown', (e) => {
      e.preventDefault();
      if (uploaded) { clear(); uploaded = false; }  // a drawing replaces an upload
      pad.setPointerCapture(e.pointerId);
      last = point(e);
      strokes.push([last]);
      line(last, last);
    });
    pad.addEventListener('pointermove', (e) => {
      if (last === null) return;
      const p = point(e);
      line(last, p);
      strokes[strokes.length - 1].push(p);
      last = p;
    });
    const end = () => { if (last !== null) { last = null; send(); } };
    pad.addEventListener('pointerup', end);
    pad.addEventListener('pointercancel', end);
    document.getElementById('clear').addEventListener('click', () => {
      clear();
      strokes = [];
      ++sequence;
      renderAnswerCards();
    });
    document.getElementById('upload').addEventListener('change', (e) => {
      const file = e.target.files && e.target.files[0];
      if (!file) return;
      const url = URL.createObjectURL(file);
      const img = new Image();
      img.onload = () => {
        // Fit the image into the pad, as white ink on black.
        const scratch = document.createElement('canvas');
        scratch.width = PAD;
        scratch.height = PAD;
        const s = scratch.getContext('2d', { willReadFrequently: true });
        s.fillStyle = '#fff';
        s.fillRect(0, 0, PAD, PAD);
        s.drawImage(img, 0, 0, PAD, PAD);
        const gray = grayOfRgba(s.getImageData(0, 0, PAD, PAD).data, PAD * PAD);
        invertIfLight(gray, PAD, PAD);
        const pixels = ctx.createImageData(PAD, PAD);
        gray.forEach((v, i) => {
          const g = Math.round(255 * v);
          pixels.data.set([g, g, g, 255], 4 * i);
        });
        ctx.putImageData(pixels, 0, 0);
        strokes = [];  // the upload replaces the drawing
        uploaded = true;
        URL.revokeObjectURL(url);
        send();
      };
      img.onerror = () => { setStatus('not an image: ' + file.name, true); URL.revokeObjectURL(url); };
      img.src = url;
      e.target.value = '';
    });
  }

  // For training.js and serving.js (loaded after this file).
  window.nnConsole = { el, models: () => models, loadModels };

  document.addEventListener('DOMContentLoaded', () => {
    for (const tab of document.querySelectorAll('.tab')) {
      tab.addEventListener('click', () => show(tab.dataset.panel));
    }
    document.getElementById('refresh').addEventListener('click', loadModels);
    setUpPad();
    show(location.hash.slice(1));
    loadModels();
  });
})();
