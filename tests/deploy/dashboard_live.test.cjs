// The dashboard against the real thing: nnserve (a model trained for one
// epoch by nntrain) serves some traffic on 127.0.0.1, including requests
// over the size limit, and runs a training job; Debian's Prometheus scrapes
// it every second; every dashboard query then runs through Prometheus' HTTP
// API. All must succeed and return data. Needs $NNSERVE_BIN_DIR (nnserve,
// nnctl, nntrain), prometheus and data/mnist; skips without them. About 20 s.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const lib = require('./deploy_lib.cjs');
const mon = require('./monitoring_checks.cjs');

const BIN = process.env.NNSERVE_BIN_DIR || '';
const bin = (name) => path.join(BIN, name);
const PROMETHEUS = lib.which('prometheus');
const DIGITS = path.join(lib.ROOT, 'data/mnist/t10k-images-idx3-ubyte');
const DASHBOARD = path.join(lib.ROOT, 'deploy/grafana/nnserve-dashboard.json');
const missing = [
  ...['nnserve', 'nnctl', 'nntrain'].filter((b) => !BIN || !fs.existsSync(bin(b))).map((b) => `${b} ($NNSERVE_BIN_DIR)`),
  ...(PROMETHEUS ? [] : ['prometheus']),
  ...(fs.existsSync(DIGITS) ? [] : ['data/mnist (scripts/prepare-data.sh)']),
];
const skip = missing.length > 0 && `missing: ${missing.join(', ')}`;
// Requests over this many images are rejected (too_large), so that the
// failure and rejection panels have data too.
const MAX_IMAGES = 8;

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function getJson(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 10000 }, (res) => {
      let body = '';
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => {
        try { resolve(JSON.parse(body)); } catch (e) { reject(new Error(`${url}: ${body.slice(0, 200)}`)); }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: timeout`)));
    req.on('error', reject);
  });
}

async function waitFor(what, seconds, fn) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await fn().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await sleep(250);
  }
}

// A child process that is stopped with SIGTERM (then SIGKILL) at the end.
const children = [];
function start(file, args, logFile) {
  const out = fs.openSync(logFile, 'w');
  const child = spawn(file, args, { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  children.push(child);
  return child;
}

async function stopAll() {
  await Promise.all(children.map((child) => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), 40000);
    child.on('exit', () => { clearTimeout(kill); resolve(); });
    child.kill('SIGTERM');
  })));
}

test('every dashboard query runs on a real Prometheus scraping nnserve, and the panels show data', { skip, timeout: 180000 }, async (t) => {
  t.after(stopAll);
  const dir = lib.tempDir('live');
  const repo = path.join(dir, 'repo');

  // A real model: the tutorial MLP, one epoch on the real digits.
  fs.mkdirSync(path.join(repo, 'mnist_mlp/1'), { recursive: true });
  const train = spawnSync(bin('nntrain'), [
    `--spec=${path.join(lib.ROOT, 'models/mnist_mlp.textproto')}`, `--data=${path.dirname(DIGITS)}`,
    '--epochs=1', '--batch_size=64', '--optimizer=adam', '--learning_rate=0.001', '--seed=1', '--threads=1',
    '--labels=0,1,2,3,4,5,6,7,8,9', `--out=${path.join(repo, 'mnist_mlp/1/model.nnm')}`,
  ], { encoding: 'utf8', timeout: 120000 });
  assert.equal(train.status, 0, train.stdout + train.stderr);

  const portFile = path.join(dir, 'grpc.port');
  const httpPortFile = path.join(dir, 'http.port');
  const nnserve = start(bin('nnserve'), [
    '--listen_address=127.0.0.1', '--port=0', `--port_file=${portFile}`,
    '--http_listen_address=127.0.0.1', '--http_port=0', `--http_port_file=${httpPortFile}`,
    `--model_repository=${repo}`, `--max_images_per_request=${MAX_IMAGES}`, '--workers=1',
    '--drain_grace=0s', '--shutdown_timeout=5s', '--enable_training', `--data_dir=${path.join(lib.ROOT, 'data')}`,
  ], path.join(dir, 'nnserve.log'));
  const grpcPort = await waitFor('nnserve', 30, async () => {
    if (nnserve.exitCode !== null) throw new Error(`nnserve exited: ${fs.readFileSync(path.join(dir, 'nnserve.log'), 'utf8')}`);
    return fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8').trim();
  });
  const httpPort = fs.readFileSync(httpPortFile, 'utf8').trim();

  const promPort = await freePort();
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), [
    'global: {scrape_interval: 1s, evaluation_interval: 1s}',
    'scrape_configs:',
    `  - {job_name: nnserve, static_configs: [{targets: ["127.0.0.1:${httpPort}"]}]}`, '',
  ].join('\n'));
  start(PROMETHEUS, [
    `--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'tsdb')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
  ], path.join(dir, 'prometheus.log'));
  const query = (expr) => getJson(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`);

  // Traffic for a few scrapes: good requests of 8 images, and requests of
  // 16 (over the limit: RESOURCE_EXHAUSTED, rejected as too_large).
  const nnctl = (...args) => spawnSync(bin('nnctl'), [`--target=127.0.0.1:${grpcPort}`, ...args],
                                       { encoding: 'utf8', timeout: 60000 });
  // A training job that outlasts the test (cancelled at the end), for the
  // training panels.
  const job = nnctl('train', '--model=mnist_mlp', '--epochs=100', '--detach');
  assert.equal(job.status, 0, job.stdout + job.stderr);
  const jobId = job.stdout.trim();
  t.after(() => nnctl('train', `--cancel=${jobId}`));
  const deadline = Date.now() + 60000;
  for (let round = 0; ; round++) {
    const ok = nnctl('predict', '--model=mnist_mlp', `--batch=${MAX_IMAGES}`, `--index=${round * 64}`, '--limit=64', DIGITS);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    const tooLarge = nnctl('predict', '--model=mnist_mlp', `--batch=${2 * MAX_IMAGES}`, '--limit=16', DIGITS);
    assert.notEqual(tooLarge.status, 0, 'a request over --max_images_per_request fails');
    await sleep(1000);
    const count = async (expr) => {
      const answer = await query(`count_over_time(${expr}[1m])`).catch(() => null);
      // The most scrapes of any series: a retired version's series stops
      // (the training job publishes a version), so any one may be stale.
      const counts = answer ? answer.data.result.map((r) => Number(r.value[1])) : [];
      return counts.length > 0 ? Math.max(...counts) : 0;
    };
    const n = await count('nnserve_requests_total{job="nnserve",code="OK"}');
    const training = await count('nnserve_training_progress_ratio{job="nnserve"}');
    if (n >= 5 && training >= 2 && round >= 4) break;
    assert.ok(Date.now() < deadline, `Prometheus has ${n} scrapes of nnserve after 60 s`);
  }

  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));
  const variables = new Set(dashboard.templating.list.map((v) => v.name));
  const values = { job: 'nnserve', instance: '.*', model: '.*', __rate_interval: '1m', __interval: '1s', __range: '5m' };
  const failures = [];
  const empty = [];
  for (const q of mon.dashboardQueries(dashboard)) {
    const { expr } = mon.substituteVariables(q.expr, variables, q.where, values);
    const answer = await query(expr).catch((e) => ({ status: 'error', error: e.message }));
    if (answer.status !== 'success') {
      failures.push(`${q.where}: ${answer.error || JSON.stringify(answer)} in ${expr}`);
      continue;
    }
    const result = answer.data.result;
    const hasData = Array.isArray(result) ? result.some((r) => r.value && r.value[1] !== 'NaN') : result !== null;
    if (!hasData) empty.push(`${q.where}: ${expr}`);
    // Every {{label}} of the legend is on the series it names.
    for (const [, label] of q.legend.matchAll(/\{\{\s*(\w+)\s*\}\}/g)) {
      if (Array.isArray(result) && result.length > 0 && !result.some((r) => label in r.metric)) {
        empty.push(`${q.where}: the legend's {{${label}}} is on none of the series`);
      }
    }
  }
  assert.deepEqual(failures, [], 'Prometheus rejected queries');
  assert.deepEqual(empty, [], 'queries without data, or legends naming absent labels');
});
