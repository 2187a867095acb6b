// The console's Training panel: running and recent jobs, live loss and
// accuracy curves (per batch; validation points per epoch), a form to start
// a fine-tune or a new training, and cancel; through the training RPCs'
// HTTP view (server/v1_training_rest.h):
//   GET  /v1/training/jobs                  the jobs (needs the token)
//   POST /v1/training/jobs                  a TrainRequest; the answer is the
//                                           Train stream as server-sent events
//   GET  /v1/training/jobs/{id}/events      WatchTraining, as events
//   POST /v1/training/jobs/{id}/cancel
// The training token is asked for in the page and kept in this script's
// memory only (no storage, no cookie): reloading the page forgets it. It
// travels as "Authorization: Bearer <token>", which EventSource cannot
// send, so streams are read with fetch(). Without the token, or when the
// server has training disabled, the panel is read-only: the jobs come from
// ModelInfo (training_jobs, no token needed) and the form is disabled.
(function () {
  'use strict';
  const { lineChart } = window.nnCharts;
  const C = () => window.nnConsole;

  let token = '';           // in memory only
  let writable = false;     // training enabled and the token accepted
  const jobs = new Map();   // job id -> { job, loss, acc, valLoss, valAcc }
  let shown = null;         // the job whose curves are drawn
  const watching = new Set();

  // An MLP like the tutorial's (models/mnist_mlp.textproto), as JSON.
  const DEFAULT_SPEC = {
    name: 'console_mlp', input: { height: 28, width: 28 },
    layers: [{ name: 'flatten', flatten: {} },
             { name: 'dense', dense: { units: 64, activation: 'ACTIVATION_RELU' } },
             { name: 'dense_1', dense: { units: 10, activation: 'ACTIVATION_SOFTMAX' } }] };

  function headers(extra) {
    const h = Object.assign({ Accept: 'application/json' }, extra || {});
    if (token) h.Authorization = 'Bearer ' + token;
    return h;
  }
  function say(text, bad) {
    const s = document.getElementById('train-status');
    s.textContent = text;
    s.classList.toggle('error', !!bad);
  }

  function entry(job) {
    let e = jobs.get(job.jobId);
    if (!e) { e = { job, loss: [], acc: [], valLoss: [], valAcc: [] }; jobs.set(job.jobId, e); }
    e.job = job;
    return e;
  }
  // x of a progress message: epochs done, fractional.
  function xOf(job) {
    const per = job.batchesPerEpoch || 1;
    return Math.max(0, (job.epoch || 1) - 1) + (job.batch || 0) / per;
  }

  // ---- the jobs list ------------------------------------------------------
  async function loadJobs() {
    let list = [];
    if (writable) {
      const r = await fetch('/v1/training/jobs', { headers: headers() });
      const body = await r.json().catch(() => ({}));
      if (r.ok) list = body.jobs || [];
    } else {
      for (const m of C().models()) list = list.concat(m.trainingJobs || []);
    }
    for (const job of list) if (!watching.has(job.jobId)) entry(job);
    renderJobs();
  }

  function renderJobs() {
    const { el } = C();
    const root = document.getElementById('jobs');
    const t = el('table', {}, el('tr', {}, el('th', {}, 'job'), el('th', {}, 'model'), el('th', {}, 'state'),
      el('th', { class: 'num' }, 'epoch'), el('th', { class: 'num' }, 'loss'), el('th', { class: 'num' }, 'accuracy'),
      el('th', { class: 'num' }, 'version'), el('th', {}, '')));
    const sorted = [...jobs.values()].sort((a, b) => Number(b.job.jobId.replace(/\D/g, '')) - Number(a.job.jobId.replace(/\D/g, '')));
    for (const { job } of sorted) {
      const running = ['JOB_STATE_QUEUED', 'JOB_STATE_RUNNING'].includes(job.state);
      const watch = el('button', { type: 'button', class: 'watch' }, 'curves');
      watch.addEventListener('click', () => { shown = job.jobId; if (writable && running) watchJob(job.jobId); renderCurves(); });
      const cancel = el('button', { type: 'button', class: 'cancel' }, 'cancel');
      cancel.disabled = !writable || !running;
      cancel.addEventListener('click', () => cancelJob(job.jobId));
      t.append(el('tr', { 'data-job': job.jobId, 'data-state': job.state },
        el('td', {}, job.jobId), el('td', {}, job.model),
        el('td', {}, String(job.state || '').replace('JOB_STATE_', '').toLowerCase()),
        el('td', { class: 'num' }, (job.epoch || 0) + ' / ' + (job.epochs || 0)),
        el('td', { class: 'num' }, Number(job.loss || 0).toFixed(4)),
        el('td', { class: 'num' }, (100 * (job.accuracy || 0)).toFixed(1) + ' %'),
        el('td', { class: 'num' }, Number(job.publishedVersion) > 0 ? job.publishedVersion : '–'),
        el('td', {}, watch, ' ', cancel)));
      if (job.error) t.append(el('tr', {}, el('td', { class: 'error', colspan: '8' }, job.error)));
    }
    root.replaceChildren(jobs.size ? t : el('p', { class: 'hint' }, 'No training job yet.'));
  }

  function renderCurves() {
    const box = document.getElementById('curves');
    const e = shown && jobs.get(shown);
    box.hidden = !e;
    if (!e) return;
    const j = e.job;
    document.getElementById('curves-title').textContent = j.jobId + ' → ' + j.model + ': ' +
      String(j.state || '').replace('JOB_STATE_', '').toLowerCase() +
      (Number(j.publishedVersion) > 0 ? ', published version ' + j.publishedVersion : '');
    box.dataset.job = j.jobId;
    box.dataset.state = j.state;
    box.dataset.points = String(e.loss.length);
    box.dataset.epochs = String(e.valLoss.length);
    const x = { xMin: 0, xMax: j.epochs || 1, xLabel: 'epoch' };
    lineChart(document.getElementById('chart-loss'),
              [{ name: 'loss (batch)', color: '#2f6fde', points: e.loss },
               { name: 'validation loss', color: '#c0392b', points: e.valLoss, dots: true }],
              { ...x, yMin: 0 });
    lineChart(document.getElementById('chart-accuracy'),
              [{ name: 'accuracy (batch)', color: '#1f8a4c', points: e.acc },
               { name: 'validation accuracy', color: '#c0392b', points: e.valAcc, dots: true }],
              { ...x, yMin: 0, yMax: 1, yFormat: (v) => (100 * v).toFixed(0) + '%' });
  }

  // ---- streams --------------------------------------------------------------
  // Reads server-sent events from `response`; calls onEvent(name, data).
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let name = '', data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) name = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (name) onEvent(name, JSON.parse(data));
      }
    }
  }

  // Follows one stream (Train or WatchTraining) to its end.
  async function follow(response) {
    let id = null;
    await readEvents(response, (name, data) => {
      if (name === 'progress') {
        const e = entry(data.job);
        id = data.job.jobId;
        watching.add(id);
        if (data.batch && data.job.batch > 0) {  // (not the state before the first batch)
          e.loss.push([xOf(data.job), data.job.loss]);
          e.acc.push([xOf(data.job), data.job.accuracy]);
        }
        if (data.epochEnd && data.epochEnd.hasValidation) {
          e.valLoss.push([data.epochEnd.epoch, data.epochEnd.valLoss]);
          e.valAcc.push([data.epochEnd.epoch, data.epochEnd.valAccuracy]);
        }
        if (shown === null || shown === id) { shown = id; renderCurves(); }
        renderJobs();
      } else if (name === 'end') {
        say(id + ': ' + (data.code === 'OK' ? 'done' : data.code.toLowerCase() + (data.error ? ': ' + data.error : '')),
            data.code !== 'OK' && data.code !== 'CANCELLED');
        if (id) watching.delete(id);
        if (data.code === 'OK') C().loadModels();
      }
    });
    if (id) watching.delete(id);
    loadJobs();
  }

  async function watchJob(id) {
    if (watching.has(id)) return;
    watching.add(id);
    const r = await fetch('/v1/training/jobs/' + encodeURIComponent(id) + '/events', { headers: headers() });
    if (!r.ok) {
      watching.delete(id);
      say('watch ' + id + ' refused: ' + ((await r.json().catch(() => ({}))).error || 'HTTP ' + r.status), true);
      return;
    }
    await follow(r);
  }

  async function cancelJob(id) {
    const r = await fetch('/v1/training/jobs/' + encodeURIComponent(id) + '/cancel',
                          { method: 'POST', headers: headers() });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) say('cancel refused: ' + (body.error || 'HTTP ' + r.status), true);
    else { entry(body.job); renderJobs(); renderCurves(); }
  }

  // ---- the form -------------------------------------------------------------
  function request() {
    const f = (id) => document.getElementById(id);
    const fineTune = f('train-mode').value === 'finetune';
    const config = { epochs: Number(f('train-epochs').value), batchSize: Number(f('train-batch').value),
                     maxTrainExamples: Number(f('train-examples').value) };
    if (f('train-lr').value) config.learningRate = Number(f('train-lr').value);
    const r = { model: fineTune ? f('train-base').value : f('train-name').value.trim(),
                dataset: f('train-dataset').value, config, progressIntervalMillis: 50 };
    if (fineTune) r.baseVersion = String(Number(f('train-base-version').value) || 0);
    else r.spec = JSON.parse(f('train-spec').value);
    return r;
  }

  async function start(event) {
    event.preventDefault();
    let body;
    try { body = JSON.stringify(request()); } catch (e) { say('the spec is not JSON: ' + e.message, true); return; }
    const r = await fetch('/v1/training/jobs', {
      method: 'POST', body,
      headers: headers({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }) });
    if (!r.ok) {
      say('refused: ' + ((await r.json().catch(() => ({}))).error || 'HTTP ' + r.status), true);
      return;
    }
    shown = null;
    say('training…');
    await follow(r);
  }

  function setWritable(on) {
    writable = on;
    document.getElementById('train-form').querySelector('fieldset').disabled = !on;
    document.getElementById('panel-training').dataset.writable = on ? 'yes' : 'no';
    renderJobs();
  }

  // Asks the server whether training is enabled and the token accepted.
  async function probe() {
    const r = await fetch('/v1/training/jobs', { headers: headers() });
    const body = await r.json().catch(() => ({}));
    if (r.ok) {
      setWritable(true);
      say(token ? 'token accepted: training enabled' : 'training enabled (this server needs no token)');
    } else {
      setWritable(false);
      if (r.status === 401 && token) { token = ''; say('token refused: ' + body.error, true); }
      else if (r.status === 401) say('read-only: give the training token to train');
      else say('read-only: ' + (body.error || 'HTTP ' + r.status));
    }
    loadJobs();
  }

  function fillBases() {
    const select = document.getElementById('train-base');
    const keep = select.value;
    select.replaceChildren(...C().models().map((m) => C().el('option', { value: m.name }, m.name)));
    if (keep) select.value = keep;
  }

  function modeChanged() {
    const fineTune = document.getElementById('train-mode').value === 'finetune';
    for (const e of document.querySelectorAll('.finetune-only')) e.hidden = !fineTune;
    for (const e of document.querySelectorAll('.new-only')) e.hidden = fineTune;
  }

  document.addEventListener('DOMContentLoaded', () => {
    document.getElementById('train-spec').value = JSON.stringify(DEFAULT_SPEC, null, 1);
    document.getElementById('train-mode').addEventListener('change', modeChanged);
    document.getElementById('train-form').addEventListener('submit', start);
    document.getElementById('token-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const input = document.getElementById('token');
      token = input.value;
      input.value = '';  // the page keeps it in this variable only
      probe();
    });
    document.getElementById('tab-training').addEventListener('click', () => { fillBases(); loadJobs(); setTimeout(renderCurves, 0); });
    document.addEventListener('nn-models', () => { fillBases(); if (!writable) loadJobs(); });
    modeChanged();
    setWritable(false);
    probe();
    setInterval(() => { if (!document.getElementById('panel-training').hidden) loadJobs(); }, 3000);
  });
})();
