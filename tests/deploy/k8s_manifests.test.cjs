// The Kubernetes manifests in deploy/k8s render, validate against the
// Kubernetes schemas, and follow nnserve's rules; and each check fails on a
// manifest broken the way it guards against.
//   NNSERVE_DEPLOY_NODE_DIR=<build>/deploy-node node --test tests/deploy/k8s_manifests.test.cjs
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const lib = require('./deploy_lib.cjs');
const k8s = require('./k8s_checks.cjs');

const DIR = path.join(lib.ROOT, 'deploy', 'k8s');
const MONITORING_DIR = path.join(DIR, 'monitoring');
const fresh = () => k8s.render(DIR);
const key = (o) => `${o.kind}/${o.metadata.name}`;
const deployment = (objs) => objs.find((o) => o.kind === 'Deployment');
const server = (objs) => deployment(objs).spec.template.spec.containers.find((c) => c.name === 'nnserve');
// JSON with sorted keys: kubectl sorts them, YAML files need not.
const canonical = (o) => JSON.stringify(o, (_, v) => (v && typeof v === 'object' && !Array.isArray(v)
  ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v));

test('kustomize renders the expected objects, all in the nnserve namespace', () => {
  const objs = fresh();
  assert.deepEqual(objs.map(key).sort(), [
    'Deployment/nnserve', 'HorizontalPodAutoscaler/nnserve', 'Namespace/nnserve',
    'PersistentVolumeClaim/nnserve-models', 'PodDisruptionBudget/nnserve',
    'Service/nnserve', 'Service/nnserve-headless', 'ServiceAccount/nnserve',
  ]);
  for (const o of objs.filter((x) => x.kind !== 'Namespace')) {
    assert.equal(o.metadata.namespace, 'nnserve', key(o));
  }
  assert.match(server(objs).image, /^localhost\/nnserve:\d+\.\d+\.\d+$/, 'images: rewrites the image');
});

test('the built-in renderer agrees with kubectl kustomize', { skip: !k8s.kubectlPath() && 'no kubectl' }, () => {
  for (const dir of [DIR, MONITORING_DIR]) {
    const ours = new Map(k8s.renderKustomization(dir).map((o) => [key(o), canonical(o)]));
    const theirs = new Map(k8s.renderWithKubectl(dir).map((o) => [key(o), canonical(o)]));
    assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort());
    for (const [k, v] of theirs) assert.equal(ours.get(k), v, `${k} renders differently`);
  }
});

test('the built-in renderer refuses kustomize fields it does not implement', () => {
  const dir = lib.tempDir('kustomize');
  fs.writeFileSync(path.join(dir, 'kustomization.yaml'), 'resources: []\ncommonLabels: {a: b}\n');
  assert.throws(() => k8s.renderKustomization(dir), /commonLabels/);
});

test('every check passes on deploy/k8s', () => {
  assert.deepEqual(k8s.checkAll(fresh()), []);
});

test('the optional ServiceMonitor validates and selects the Service and its metrics port', () => {
  const objs = k8s.renderKustomization(MONITORING_DIR);
  assert.deepEqual(k8s.CHECKS.schemas(objs), []);
  assert.deepEqual(k8s.CHECKS.unknownFields(objs), []);
  const monitor = objs.find((o) => o.kind === 'ServiceMonitor');
  assert.ok(monitor, 'a ServiceMonitor');
  const service = fresh().find((o) => o.kind === 'Service' && o.metadata.name === 'nnserve');
  for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) {
    assert.equal(service.metadata.labels[k], v, `Service label ${k}`);
  }
  const portNames = service.spec.ports.map((p) => p.name);
  for (const e of monitor.spec.endpoints) assert.ok(portNames.includes(e.port), `endpoint port ${e.port}`);
  assert.ok(monitor.spec.namespaceSelector.matchNames.includes(service.metadata.namespace));
});

// Each case breaks one thing in a fresh render; the named check must report
// it (matching `expect`) and the whole suite must fail.
const BROKEN = [
  ['a wrong type fails the schema', 'schemas', /replicas must be integer/,
    (o) => { deployment(o).spec.replicas = 'two'; }],
  ['a missing required field fails the schema', 'schemas', /selector/,
    (o) => { delete deployment(o).spec.selector; }],
  ['an unknown apiVersion fails the schema', 'schemas', /no schema/,
    (o) => { o.find((x) => x.kind === 'HorizontalPodAutoscaler').apiVersion = 'autoscaling/v9'; }],
  ['a misspelt field is an unknown field', 'unknownFields', /unknown field "readinesProbe"/,
    (o) => { const c = server(o); c.readinesProbe = c.readinessProbe; delete c.readinessProbe; }],
  ['a selector that misses the pod labels', 'selectors', /does not match the pod template labels/,
    (o) => { deployment(o).spec.selector.matchLabels['app.kubernetes.io/name'] = 'nnserv'; }],
  ['a Service selecting no pods', 'selectors', /matches no pod template/,
    (o) => { o.find((x) => x.kind === 'Service').spec.selector['app.kubernetes.io/component'] = 'api'; }],
  ['an HPA aimed at a missing Deployment', 'selectors', /scaleTargetRef/,
    (o) => { o.find((x) => x.kind === 'HorizontalPodAutoscaler').spec.scaleTargetRef.name = 'other'; }],
  ['a Service targetPort that no container declares', 'ports', /targets grpcx/,
    (o) => { o.find((x) => x.kind === 'Service').spec.ports[0].targetPort = 'grpcx'; }],
  ['a readiness probe on the wrong port', 'ports', /readinessProbe port 50052/,
    (o) => { server(o).readinessProbe.grpc.port = 50052; }],
  ['a container port that differs from --port', 'ports', /must be 50051/,
    (o) => { server(o).ports.find((p) => p.name === 'grpc').containerPort = 50052; }],
  ['a scrape annotation on the wrong port', 'ports', /prometheus.io\/port/,
    (o) => { deployment(o).spec.template.metadata.annotations['prometheus.io/port'] = '9090'; }],
  ['no liveness probe', 'ports', /no livenessProbe/,
    (o) => { delete server(o).livenessProbe; }],
  ['a grace period shorter than the drain', 'termination', /terminationGracePeriodSeconds 30 must exceed/,
    (o) => { deployment(o).spec.template.spec.terminationGracePeriodSeconds = 30; }],
  ['a shutdown timeout longer than the grace period', 'termination', /must exceed/,
    (o) => { server(o).args = server(o).args.map((a) => (a.startsWith('--shutdown_timeout=') ? '--shutdown_timeout=1m' : a)); }],
  ['no grace period with the default drain (5 s + 30 s > 30 s)', 'termination', /must exceed/,
    (o) => { delete deployment(o).spec.template.spec.terminationGracePeriodSeconds; }],
  ['a root user', 'security', /runAsUser is 0/,
    (o) => { deployment(o).spec.template.spec.securityContext.runAsUser = 0; }],
  ['runAsNonRoot turned off in a container', 'security', /runAsNonRoot is not true/,
    (o) => { server(o).securityContext.runAsNonRoot = false; }],
  ['a writable root filesystem', 'security', /readOnlyRootFilesystem/,
    (o) => { delete server(o).securityContext.readOnlyRootFilesystem; }],
  ['an init container that may escalate privileges', 'security', /seed-models: allowPrivilegeEscalation/,
    (o) => { delete deployment(o).spec.template.spec.initContainers[0].securityContext.allowPrivilegeEscalation; }],
  ['no memory limit', 'resources', /no resources.limits.memory/,
    (o) => { delete server(o).resources.limits.memory; }],
  ['a ReadWriteOnce model repository for many replicas', 'modelRepository', /ReadWriteMany/,
    (o) => { o.find((x) => x.kind === 'PersistentVolumeClaim').spec.accessModes = ['ReadWriteOnce']; }],
  ['a model repository that is not mounted', 'modelRepository', /no volume is mounted/,
    (o) => { server(o).args = server(o).args.map((a) => (a.startsWith('--model_repository=') ? '--model_repository=/srv/models' : a)); }],
  ['a misspelt flag', 'flags', /no flag --drain-grace/,
    (o) => { server(o).args = server(o).args.map((a) => a.replace('--drain_grace=', '--drain-grace=')); }],
  ['a flag without its value', 'flags', /--workers needs a value/,
    (o) => { server(o).args = server(o).args.map((a) => (a.startsWith('--workers=') ? '--workers' : a)); }],
  ['a positional argument', 'flags', /not a flag/,
    (o) => { server(o).args.push('/models'); }],
  ['training with the token written in the manifest', 'training', /needs --training_token=\$\(ENV_VAR\)/,
    (o) => { server(o).args = server(o).args.map((a) => (a.startsWith('--training_token=') ? '--training_token=secret' : a)); }],
  ['training without authentication', 'training', /allow_unauthenticated_training/,
    (o) => { server(o).args.push('--allow_unauthenticated_training'); }],
  ['a token variable that is not from a Secret', 'training', /must come from a secretKeyRef/,
    (o) => { server(o).env = [{ name: 'NNSERVE_TRAINING_TOKEN', value: 'secret' }]; }],
];

for (const [name, check, expect, mutate] of BROKEN) {
  test(`a broken manifest fails: ${name}`, () => {
    const objs = fresh();
    mutate(objs);
    const problems = k8s.CHECKS[check](objs);
    assert.ok(problems.some((p) => expect.test(p)),
      `check ${check} should report ${expect}; it reported ${JSON.stringify(problems)}`);
    assert.notDeepEqual(k8s.checkAll(objs), []);
  });
}

test('the command fails, naming the problem, on a broken copy of deploy/k8s', () => {
  const dir = lib.tempDir('k8s');
  fs.cpSync(DIR, dir, { recursive: true });
  const file = path.join(dir, 'deployment.yaml');
  const text = fs.readFileSync(file, 'utf8');
  assert.match(text, /terminationGracePeriodSeconds: 45\n/);
  fs.writeFileSync(file, text.replace('terminationGracePeriodSeconds: 45', 'terminationGracePeriodSeconds: 20'));
  const run = spawnSync(process.execPath, [path.join(__dirname, 'k8s_checks.cjs'), dir],
                        { encoding: 'utf8', timeout: 60000 });
  assert.equal(run.status, 1, run.stdout + run.stderr);
  assert.match(run.stderr, /terminationGracePeriodSeconds 20 must exceed/);

  const ok = spawnSync(process.execPath, [path.join(__dirname, 'k8s_checks.cjs'), DIR],
                       { encoding: 'utf8', timeout: 60000 });
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
});

test('the flag catalogue holds the server\'s flags and absl\'s', () => {
  const flags = k8s.nnserveFlags();
  for (const f of ['port', 'http_port', 'model_repository', 'drain_grace', 'shutdown_timeout', 'workers', 'help']) {
    assert.ok(flags.has(f), f);
  }
  assert.equal(flags.get('enable_training'), 'bool');
  assert.deepEqual(k8s.checkFlagList(['--noenable_training', '--port=1'], 'x', flags), []);
  assert.deepEqual(k8s.checkFlagList(['--noport'], 'x', flags).length, 1);
});

test('the absl duration parser reads the forms the flags take', () => {
  assert.equal(lib.parseDurationSeconds('5s'), 5);
  assert.equal(lib.parseDurationSeconds('1m30s'), 90);
  assert.equal(lib.parseDurationSeconds('250ms'), 0.25);
  assert.equal(lib.parseDurationSeconds('0'), 0);
  assert.ok(Number.isNaN(lib.parseDurationSeconds('5 s')));
  assert.ok(Number.isNaN(lib.parseDurationSeconds('five')));
});
