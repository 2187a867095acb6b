// The Grafana dashboard and the Prometheus alerts: valid JSON, every PromQL
// expression parses (promtool), every metric, label and label value exists
// in the server's metric catalogue; and the checks fail on broken copies.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const lib = require('./deploy_lib.cjs');
const mon = require('./monitoring_checks.cjs');

const DASHBOARD = path.join(lib.ROOT, 'deploy/grafana/nnserve-dashboard.json');
const ALERTS = path.join(lib.ROOT, 'deploy/prometheus/alerts.yml');
const load = () => JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));
const catalog = mon.loadCatalog();
const panel = (d, title) => mon.allPanels(d).find((p) => p.title === title);

test('the dashboard is valid JSON with a uid, a title and panels', () => {
  const d = load();
  assert.equal(d.uid, 'nnserve');
  assert.equal(d.title, 'nnserve');
  assert.ok(mon.allPanels(d).filter((p) => p.type !== 'row').length >= 10);
});

test('the panels fit the grid without overlapping and all use the $datasource variable', () => {
  assert.deepEqual(mon.checkDashboardLayout(load()), []);
});

test('every PromQL expression on the dashboard parses (promtool check rules)', () => {
  assert.deepEqual(mon.checkDashboardPromql(load()), []);
});

test('every metric, label and label value on the dashboard exists on the server', () => {
  assert.deepEqual(mon.checkDashboardQueries(catalog, load()), []);
});

test('every nnserve metric family and the process CPU and memory appear on the dashboard', () => {
  const used = mon.familiesUsed(catalog, mon.dashboardQueries(load()).map((q) => q.expr));
  const wanted = [...catalog.keys()].filter((n) => n.startsWith('nnserve_'))
    .concat(['process_cpu_seconds_total', 'process_resident_memory_bytes']);
  assert.deepEqual(wanted.filter((n) => !used.has(n)), []);
});

test('the dashboard shows p50, p90 and p99 of the request latency and queue vs compute time', () => {
  const d = load();
  const exprs = (title) => panel(d, title).targets.map((t) => t.expr).join('\n');
  const latency = exprs('Predict latency, server side (p50 / p90 / p99)');
  for (const q of ['0.5', '0.9', '0.99']) {
    assert.match(latency, new RegExp(`histogram_quantile\\(${q.replace('.', '\\.')}, .*nnserve_request_duration_seconds_bucket`));
  }
  const split = exprs('Queue vs compute time (p50 / p99)');
  assert.match(split, /nnserve_queue_duration_seconds_bucket/);
  assert.match(split, /nnserve_compute_duration_seconds_bucket/);
  assert.equal(panel(d, 'Batch size distribution').type, 'heatmap');
});

test('the alert rules pass promtool and use only metrics and labels the server has', () => {
  const run = spawnSync(mon.promtool(), ['check', 'rules', ALERTS], { encoding: 'utf8', timeout: 60000 });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.deepEqual(mon.checkRuleFile(ALERTS, catalog), []);
});

test('the alerts fire as their unit tests expect (promtool test rules)', () => {
  const run = spawnSync(mon.promtool(), ['test', 'rules', path.join(__dirname, 'alerts_test.yml')],
                        { encoding: 'utf8', timeout: 60000 });
  assert.equal(run.status, 0, run.stdout + run.stderr);
});

// Each case breaks the dashboard one way; the checks must say so.
const BROKEN = [
  ['a PromQL syntax error', (d) => { panel(d, 'Queue depth').targets[0].expr = 'sum by (model) (nnserve_queue_depth{job="$job"}'; },
    mon.checkDashboardPromql, /panel "Queue depth" A: promtool/],
  ['a misspelt metric', (d) => { panel(d, 'Queue depth').targets[0].expr = 'sum(nnserve_queue_dept{job="$job"})'; },
    (d) => mon.checkDashboardQueries(catalog, d), /unknown metric nnserve_queue_dept/],
  ['_bucket of a metric that is not a histogram', (d) => { panel(d, 'Queue depth').targets[0].expr = 'sum by (le) (nnserve_queue_depth_bucket)'; },
    (d) => mon.checkDashboardQueries(catalog, d), /unknown metric nnserve_queue_depth_bucket/],
  ['a label the metric does not have', (d) => { panel(d, 'Queue depth').targets[0].expr = 'sum(nnserve_queue_depth{modle="a"})'; },
    (d) => mon.checkDashboardQueries(catalog, d), /has no label modle/],
  ['grouping by a label the metric does not have', (d) => { panel(d, 'Queue depth').targets[0].expr = 'sum by (version) (nnserve_queue_depth)'; },
    (d) => mon.checkDashboardQueries(catalog, d), /groups by version/],
  ['a status code the server never reports', (d) => { panel(d, 'Requests/s by method and status code').targets[0].expr = 'sum(rate(nnserve_requests_total{code="ok"}[5m]))'; },
    (d) => mon.checkDashboardQueries(catalog, d), /is never "ok"/],
  ['a reject reason the server never reports', (d) => { panel(d, 'Rejected requests/s by reason').targets[0].expr = 'sum(rate(nnserve_rejected_total{reason=~"queue_full|overload"}[5m]))'; },
    (d) => mon.checkDashboardQueries(catalog, d), /is never "overload"/],
  ['a legend printing a missing label', (d) => { panel(d, 'Queue depth').targets[0].legendFormat = '{{reason}}'; },
    (d) => mon.checkDashboardQueries(catalog, d), /legend prints \{\{reason\}\}/],
  ['an undefined variable', (d) => { panel(d, 'Queue depth').targets[0].expr = 'sum(nnserve_queue_depth{model=~"$modell"})'; },
    (d) => mon.checkDashboardQueries(catalog, d), /undefined variable \$modell/],
  ['two panels with one id', (d) => { panel(d, 'Queue depth').id = panel(d, 'Mean batch size').id; },
    mon.checkDashboardLayout, /duplicate id/],
  ['overlapping panels', (d) => { panel(d, 'Queue depth').gridPos = { ...panel(d, 'Mean batch size').gridPos }; },
    mon.checkDashboardLayout, /overlaps/],
  ['a hard-wired data source', (d) => { panel(d, 'Queue depth').datasource = { type: 'prometheus', uid: 'abc' }; },
    mon.checkDashboardLayout, /\$datasource variable/],
];

for (const [name, mutate, check, expect] of BROKEN) {
  test(`a broken dashboard fails: ${name}`, () => {
    const d = load();
    mutate(d);
    const problems = check(d);
    assert.ok(problems.some((p) => expect.test(p)), `expected ${expect}, got ${JSON.stringify(problems)}`);
  });
}

test('an alert on a metric the server does not have fails the rule check', () => {
  const dir = lib.tempDir('alerts');
  const file = path.join(dir, 'alerts.yml');
  fs.writeFileSync(file, fs.readFileSync(ALERTS, 'utf8').replace('nnserve_rejected_total{reason="queue_full"}', 'nnserve_rejections_total{reason="queue_full"}'));
  assert.ok(mon.checkRuleFile(file, catalog).some((p) => /unknown metric nnserve_rejections_total/.test(p)));
});

test('the catalogue reader fails when metric_names.h declares a family without documenting it', () => {
  const root = lib.tempDir('catalog');
  for (const f of ['server/metrics/metric_names.h', 'server/metrics/process_collector.cc',
                   'common/status_codes.cc', 'proto/nnserve/v1/inference.proto',
                   'proto/inference/open_inference.proto']) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.copyFileSync(path.join(lib.ROOT, f), path.join(root, f));
  }
  assert.ok(mon.loadCatalog(root).has('nnserve_queue_depth'));
  const h = path.join(root, 'server/metrics/metric_names.h');
  fs.appendFileSync(h, '\ninline constexpr char kNewThing[] = "nnserve_new_thing_total";\n');
  assert.throws(() => mon.loadCatalog(root), /nnserve_new_thing_total/);
});

test('the command fails on a broken copy of the dashboard and passes on the real one', () => {
  const dir = lib.tempDir('dashboard');
  const file = path.join(dir, 'dashboard.json');
  const d = load();
  panel(d, 'CPU').targets[0].expr = 'rate(process_cpu_second_total[$__rate_interval])';
  fs.writeFileSync(file, JSON.stringify(d));
  const bad = spawnSync(process.execPath, [path.join(__dirname, 'monitoring_checks.cjs'), file], { encoding: 'utf8', timeout: 120000 });
  assert.equal(bad.status, 1, bad.stdout + bad.stderr);
  assert.match(bad.stderr, /unknown metric process_cpu_second_total/);
  fs.writeFileSync(file, '{"panels": [');
  const invalid = spawnSync(process.execPath, [path.join(__dirname, 'monitoring_checks.cjs'), file], { encoding: 'utf8', timeout: 120000 });
  assert.equal(invalid.status, 1, 'invalid JSON fails');
  const good = spawnSync(process.execPath, [path.join(__dirname, 'monitoring_checks.cjs'), DASHBOARD], { encoding: 'utf8', timeout: 120000 });
  assert.equal(good.status, 0, good.stdout + good.stderr);
});
