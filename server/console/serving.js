// The console's Serving panel: request rate, p50/p99 latency and batch
// sizes of every model, from the server's own /metrics (same origin),
// scraped every SCRAPE_MS; each point is the difference of two scrapes.
//   rate     nnserve_requests_total of the inference methods (Predict,
//            ModelInfer; every code), per second
//   latency  nnserve_request_duration_seconds of those methods: p50 and p99
//            of the requests between the scrapes, in milliseconds
//   batch    nnserve_batch_size: mean and p99 of the batches formed between
//            the scrapes
(function () {
  'use strict';
  const { parseMetrics, histogramQuantile } = window.nnMetrics;
  const { lineChart } = window.nnCharts;
  const SCRAPE_MS = 2000;
  const KEEP = 90;  // points per series (3 minutes)
  const INFER = new Set(['Predict', 'ModelInfer']);

  let previous = null;   // the last scrape's per-model totals
  const history = {};    // model -> { t: [], rate: [], p50: [], p99: [], mean: [], bp99: [] }

  // Per model: requests, duration buckets (le -> count), batch sum/count
  // and buckets, summed over the other labels.
  function totals(samples) {
    const out = {};
    const of = (m) => (out[m] ??= { requests: 0, latency: {}, batchSum: 0, batchCount: 0, batch: {} });
    for (const s of samples) {
      const model = s.labels.model;
      if (!model) continue;
      if (s.name === 'nnserve_requests_total' && INFER.has(s.labels.method)) {
        of(model).requests += s.value;
      } else if (s.name === 'nnserve_request_duration_seconds_bucket' && INFER.has(s.labels.method)) {
        const t = of(model).latency;
        t[s.labels.le] = (t[s.labels.le] || 0) + s.value;
      } else if (s.name === 'nnserve_batch_size_bucket') {
        const t = of(model).batch;
        t[s.labels.le] = (t[s.labels.le] || 0) + s.value;
      } else if (s.name === 'nnserve_batch_size_sum') {
        of(model).batchSum += s.value;
      } else if (s.name === 'nnserve_batch_size_count') {
        of(model).batchCount += s.value;
      }
    }
    return out;
  }

  function deltaBuckets(now, before) {
    return Object.entries(now).map(([le, c]) => [le === '+Inf' ? Infinity : Number(le),
                                                 c - ((before && before[le]) || 0)]);
  }

  function push(list, point) {
    list.push(point);
    if (list.length > KEEP) list.shift();
  }

  function record(now, seconds, t) {
    for (const [model, cur] of Object.entries(now)) {
      const before = (previous && previous.models[model]) || null;
      const h = (history[model] ??= { rate: [], p50: [], p99: [], mean: [], bp99: [] });
      if (!before) continue;
      const n = cur.requests - before.requests;
      push(h.rate, [t, Math.max(0, n) / seconds]);
      const latency = deltaBuckets(cur.latency, before.latency);
      const p50 = histogramQuantile(0.5, latency), p99 = histogramQuantile(0.99, latency);
      if (Number.isFinite(p50)) push(h.p50, [t, 1000 * p50]);
      if (Number.isFinite(p99)) push(h.p99, [t, 1000 * p99]);
      const batches = cur.batchCount - before.batchCount;
      if (batches > 0) {
        push(h.mean, [t, (cur.batchSum - before.batchSum) / batches]);
        const bp99 = histogramQuantile(0.99, deltaBuckets(cur.batch, before.batch));
        if (Number.isFinite(bp99)) push(h.bp99, [t, bp99]);
      }
    }
  }

  function card(model) {
    const { el } = window.nnConsole;
    const root = document.getElementById('serving');
    let c = root.querySelector('.serving-model[data-model="' + CSS.escape(model) + '"]');
    if (c) return c;
    c = el('article', { class: 'model serving-model', 'data-model': model },
      el('h2', {}, model),
      el('div', { class: 'charts' },
        el('figure', {}, el('figcaption', {}, 'requests / s'), el('canvas', { class: 'chart', 'data-chart': 'rate' })),
        el('figure', {}, el('figcaption', {}, 'latency, ms'), el('canvas', { class: 'chart', 'data-chart': 'latency' })),
        el('figure', {}, el('figcaption', {}, 'batch size'), el('canvas', { class: 'chart', 'data-chart': 'batch' }))),
      el('div', { class: 'kv now' }));
    root.append(c);
    return c;
  }

  function render() {
    const t0 = Date.now() / 1000 - KEEP * SCRAPE_MS / 1000;
    const rel = (points) => points.map(([t, v]) => [t - Date.now() / 1000, v]);
    for (const [model, h] of Object.entries(history)) {
      const c = card(model);
      const x = { xMin: t0 - Date.now() / 1000, xMax: 0, xLabel: 'seconds' };
      lineChart(c.querySelector('[data-chart="rate"]'),
                [{ name: 'req/s', color: '#2f6fde', points: rel(h.rate) }], { ...x, yMin: 0 });
      lineChart(c.querySelector('[data-chart="latency"]'),
                [{ name: 'p50', color: '#1f8a4c', points: rel(h.p50) },
                 { name: 'p99', color: '#c0392b', points: rel(h.p99) }], { ...x, yMin: 0 });
      lineChart(c.querySelector('[data-chart="batch"]'),
                [{ name: 'mean', color: '#2f6fde', points: rel(h.mean) },
                 { name: 'p99', color: '#8e44ad', points: rel(h.bp99) }], { ...x, yMin: 0 });
      const last = (l) => (l.length ? l[l.length - 1][1] : NaN);
      const f = (v, d) => (Number.isFinite(v) ? v.toFixed(d) : '–');
      const now = c.querySelector('.now');
      now.dataset.rate = String(last(h.rate));
      now.textContent = 'now: ' + f(last(h.rate), 1) + ' req/s, p50 ' + f(last(h.p50), 2) +
        ' ms, p99 ' + f(last(h.p99), 2) + ' ms, mean batch ' + f(last(h.mean), 1);
    }
    const root = document.getElementById('serving');
    root.dataset.scrapes = String(scrapes);
  }

  let scrapes = 0;
  async function scrape() {
    try {
      const r = await fetch('/metrics');
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const models = totals(parseMetrics(await r.text()));
      const t = Date.now() / 1000;
      if (previous) record(models, Math.max(0.001, t - previous.t), t);
      else for (const m of Object.keys(models)) history[m] ??= { rate: [], p50: [], p99: [], mean: [], bp99: [] };
      previous = { t, models };
      ++scrapes;
      if (!document.getElementById('panel-serving').hidden) render();
      document.getElementById('serving-error').textContent = '';
    } catch (e) {
      document.getElementById('serving-error').textContent = 'cannot read /metrics: ' + e.message;
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    scrape();
    setInterval(scrape, SCRAPE_MS);
    document.getElementById('tab-serving').addEventListener('click', () => setTimeout(render, 0));
  });
})();
