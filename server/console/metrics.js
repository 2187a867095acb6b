// The server's own metrics (GET /metrics, Prometheus text format 0.0.4) as
// the console's Serving panel reads them: samples, and quantiles of a
// histogram between two scrapes as Prometheus' histogram_quantile computes
// them (linear within the bucket that holds the rank). Runs in the page and
// in node (tests/console/metrics.test.cjs).
(function (root) {
  'use strict';

  // [{ name, labels: {k: v}, value }] of every sample line; comments and
  // malformed lines are skipped.
  function parseMetrics(text) {
    const out = [];
    const line = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/;
    const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (const raw of text.split('\n')) {
      if (raw === '' || raw[0] === '#') continue;
      const m = line.exec(raw);
      if (!m) continue;
      const labels = {};
      for (const l of (m[3] || '').matchAll(label)) {
        labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      }
      const value = m[4] === '+Inf' ? Infinity : Number(m[4]);
      if (!Number.isNaN(value)) out.push({ name: m[1], labels, value });
    }
    return out;
  }

  // The q-quantile (0..1) of the observations counted by `buckets`
  // ([[le, cumulative count]], any order; le may be Infinity), or NaN when
  // there are none. Observations in the +Inf bucket are placed at the
  // highest finite bound, as Prometheus does.
  function histogramQuantile(q, buckets) {
    const b = buckets.slice().sort((x, y) => x[0] - y[0]);
    if (!b.length) return NaN;
    const total = b[b.length - 1][1];
    if (!(total > 0)) return NaN;
    const rank = q * total;
    let prevLe = 0, prevCount = 0;
    for (const [le, count] of b) {
      if (count >= rank) {
        if (le === Infinity) return prevLe;
        if (count === prevCount) return le;
        return prevLe + (le - prevLe) * (rank - prevCount) / (count - prevCount);
      }
      prevLe = le; prevCount = count;
    }
    return prevLe;
  }

  root.nnMetrics = { parseMetrics, histogramQuantile };
})(typeof module !== 'undefined' ? module.exports : window);
