// server/console/metrics.js (the Serving panel's reading of /metrics) in
// node: samples and labels of the text format (escapes, +Inf, comments), and
// histogram quantiles as Prometheus' histogram_quantile computes them.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const { parseMetrics, histogramQuantile } = require(path.join(__dirname, '../../server/console/metrics.js')).nnMetrics;

test('parseMetrics reads samples, labels and their escapes, and skips comments', () => {
  const samples = parseMetrics([
    '# HELP nnserve_requests_total Requests.',
    '# TYPE nnserve_requests_total counter',
    'nnserve_requests_total{code="OK",method="Predict",model="a\\"b\\\\c"} 12',
    'nnserve_request_duration_seconds_bucket{le="+Inf",model="m"} 3',
    'process_open_fds 7',
    'not a sample',
    ''].join('\n'));
  assert.deepStrictEqual(samples, [
    { name: 'nnserve_requests_total', labels: { code: 'OK', method: 'Predict', model: 'a"b\\c' }, value: 12 },
    { name: 'nnserve_request_duration_seconds_bucket', labels: { le: '+Inf', model: 'm' }, value: 3 },
    { name: 'process_open_fds', labels: {}, value: 7 }]);
});

test('histogramQuantile interpolates within the bucket holding the rank', () => {
  // 10 observations: 4 <= 1, 8 <= 2, 10 <= 4.
  const buckets = [[4, 10], [1, 4], [2, 8], [Infinity, 10]];
  assert.strictEqual(histogramQuantile(0.5, buckets), 1.25);    // rank 5: 1 + (5-4)/(8-4)
  assert.strictEqual(histogramQuantile(0.2, buckets), 0.5);     // rank 2 in [0, 1]
  assert.strictEqual(histogramQuantile(0.9, buckets), 3);       // rank 9: 2 + 2 * (1/2)
  // Observations above the last finite bound sit at it.
  assert.strictEqual(histogramQuantile(0.99, [[1, 1], [Infinity, 5]]), 1);
  assert.ok(Number.isNaN(histogramQuantile(0.5, [[1, 0], [Infinity, 0]])));
  assert.ok(Number.isNaN(histogramQuantile(0.5, [])));
});
