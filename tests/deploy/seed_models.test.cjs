// deploy/seed-models.sh, the Kubernetes init container's command: it copies
// the image's default models to the shared repository without touching
// models already there, atomically, under a plain POSIX sh (dash).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const lib = require('./deploy_lib.cjs');

const SCRIPT = path.join(lib.ROOT, 'deploy/seed-models.sh');

// A source repository: mnist_mlp v1 + config, mnist_cnn v1 and v2.
function makeSource() {
  const src = lib.tempDir('seed-src');
  const files = {
    'mnist_mlp/1/model.nnm': 'mlp-1', 'mnist_mlp/config.textproto': 'batching {}',
    'mnist_cnn/1/model.nnm': 'cnn-1', 'mnist_cnn/2/model.nnm': 'cnn-2',
  };
  for (const [f, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
    fs.writeFileSync(path.join(src, f), content);
  }
  return { src, files };
}

function seed(src, dst) {
  return spawnSync('sh', [SCRIPT, src, dst], { encoding: 'utf8', timeout: 30000 });
}

function listFiles(dir) {
  const out = [];
  const walk = (d, rel) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), r);
      else out.push(r);
    }
  };
  walk(dir, '');
  return out.sort();
}

test('an empty repository receives every model with all its files', () => {
  const { src, files } = makeSource();
  const dst = lib.tempDir('seed-dst');
  const run = seed(src, dst);
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(listFiles(dst), Object.keys(files).sort());
  for (const [f, content] of Object.entries(files)) assert.equal(fs.readFileSync(path.join(dst, f), 'utf8'), content);
  assert.equal(fs.statSync(path.join(dst, 'mnist_mlp')).mode & 0o777, 0o755, 'readable by the server');
  assert.deepEqual(fs.readdirSync(dst).filter((n) => n.startsWith('.')), [], 'no temporary directory left');
});

test('a model already in the repository is kept as it is, and the others are added', () => {
  const { src } = makeSource();
  const dst = lib.tempDir('seed-dst');
  fs.mkdirSync(path.join(dst, 'mnist_cnn/7'), { recursive: true });
  fs.writeFileSync(path.join(dst, 'mnist_cnn/7/model.nnm'), 'trained-here');
  const run = seed(src, dst);
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(listFiles(path.join(dst, 'mnist_cnn')), ['7/model.nnm'], 'no default version added to it');
  assert.match(run.stdout, /mnist_cnn: already in/);
  assert.ok(fs.existsSync(path.join(dst, 'mnist_mlp/1/model.nnm')));
  const again = seed(src, dst);
  assert.equal(again.status, 0);
  assert.doesNotMatch(again.stdout, /copied/, 'a second run copies nothing');
});

test('replicas seeding at the same time leave complete models and no temporary directories', async () => {
  const { src, files } = makeSource();
  for (let round = 0; round < 5; round++) {
    const dst = lib.tempDir('seed-race');
    const runs = [0, 1, 2].map(() => new Promise((resolve) => {
      const child = spawn('sh', [SCRIPT, src, dst]);
      child.on('exit', resolve);
    }));
    assert.deepEqual(await Promise.all(runs), [0, 0, 0]);
    assert.deepEqual(listFiles(dst), Object.keys(files).sort());
    assert.deepEqual(fs.readdirSync(dst).filter((n) => n.startsWith('.')), []);
  }
});

test('wrong arguments are a usage error (exit 1)', () => {
  const { src } = makeSource();
  assert.equal(seed(src, path.join(src, 'missing')).status, 1);
  assert.equal(spawnSync('sh', [SCRIPT, src], { encoding: 'utf8' }).status, 1);
});

test('the script has no bashisms (dash -n parses it)', () => {
  const run = spawnSync('dash', ['-n', SCRIPT], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
});
