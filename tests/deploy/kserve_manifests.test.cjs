// The KServe example in deploy/kserve renders and is consistent, offline:
// KServe's CRDs are not in kubernetes-models, so the ServingRuntime's and
// InferenceService's own fields are checked against the subset of KServe's
// CRD schema that the example uses (additional properties refused, so a
// misspelt field fails), and the runtime's container, as a Pod, against the
// Kubernetes schemas and nnserve's rules (flags, security, resources,
// termination). Each check also fails on a manifest broken the way it guards
// against.
//   NNSERVE_DEPLOY_NODE_DIR=<build>/deploy-node node --test tests/deploy/kserve_manifests.test.cjs
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const lib = require('./deploy_lib.cjs');
const k8s = require('./k8s_checks.cjs');

const DIR = path.join(lib.ROOT, 'deploy', 'kserve');
const fresh = () => k8s.renderKustomization(DIR);
const runtimeOf = (objs) => objs.find((o) => o.kind === 'ServingRuntime');
const isvcOf = (objs) => objs.find((o) => o.kind === 'InferenceService');

// KServe's CRDs (serving.kserve.io), the fields this example uses.
const strict = (properties, required = []) => ({ type: 'object', additionalProperties: false, properties, required });
const QUANTITIES = { type: 'object', additionalProperties: { type: ['string', 'integer'] } };
const RESOURCES = strict({ requests: QUANTITIES, limits: QUANTITIES });
const METADATA = { type: 'object', required: ['name'], properties: { name: { type: 'string' } } };
const SCHEMAS = {
  'serving.kserve.io/v1alpha1/ServingRuntime': strict({
    apiVersion: { const: 'serving.kserve.io/v1alpha1' }, kind: { const: 'ServingRuntime' }, metadata: METADATA,
    spec: strict({
      supportedModelFormats: { type: 'array', minItems: 1, items: strict({
        name: { type: 'string' }, version: { type: 'string' }, autoSelect: { type: 'boolean' },
        priority: { type: 'integer' } }, ['name']) },
      protocolVersions: { type: 'array', items: { enum: ['v1', 'v2', 'grpc-v1', 'grpc-v2'] } },
      multiModel: { type: 'boolean' },
      disabled: { type: 'boolean' },
      containers: { type: 'array', minItems: 1, items: { type: 'object' } },  // Kubernetes Containers
    }, ['containers']),
  }, ['apiVersion', 'kind', 'metadata', 'spec']),
  'serving.kserve.io/v1beta1/InferenceService': strict({
    apiVersion: { const: 'serving.kserve.io/v1beta1' }, kind: { const: 'InferenceService' }, metadata: METADATA,
    spec: strict({
      predictor: strict({
        minReplicas: { type: 'integer', minimum: 0 }, maxReplicas: { type: 'integer', minimum: 0 },
        terminationGracePeriodSeconds: { type: 'integer', minimum: 0 },
        model: strict({
          modelFormat: strict({ name: { type: 'string' }, version: { type: 'string' } }, ['name']),
          runtime: { type: 'string' }, protocolVersion: { enum: ['v1', 'v2', 'grpc-v1', 'grpc-v2'] },
          storageUri: { type: 'string', pattern: '^(pvc|gs|s3|https?|hdfs|webhdfs|oci)://' },
          resources: RESOURCES,
        }, ['modelFormat']),
      }),
    }, ['predictor']),
  }, ['apiVersion', 'kind', 'metadata', 'spec']),
};

function checkKServeSchemas(objs) {
  const Ajv = lib.requireDep('ajv');
  const ajv = new Ajv({ allErrors: true, strict: false });
  const problems = [];
  for (const o of objs) {
    const schema = SCHEMAS[`${o.apiVersion}/${o.kind}`];
    if (!schema) { problems.push(`${o.kind}/${o.metadata.name}: not a KServe object of this example`); continue; }
    const validate = ajv.compile(schema);
    if (!validate(o)) {
      for (const e of validate.errors) problems.push(`${o.kind}/${o.metadata.name}${e.instancePath}: ${e.message} ${JSON.stringify(e.params)}`);
    }
  }
  return problems;
}

// The runtime's pod as a Deployment (its container renamed "nnserve"), for
// the Kubernetes schemas and nnserve's rules of deploy/k8s.
function runtimeAsDeployment(runtime, isvc) {
  const containers = runtime.spec.containers.map((c) => ({ ...c, name: c.name === 'kserve-container' ? 'nnserve' : c.name }));
  const labels = { app: 'nnserve-kserve' };
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: runtime.metadata.name, namespace: 'nnserve' },
    spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: {
      containers, terminationGracePeriodSeconds: isvc.spec.predictor.terminationGracePeriodSeconds,
      securityContext: {} } } },
  };
}

function checkRuntimeContainer(objs) {
  const runtime = runtimeOf(objs);
  const isvc = isvcOf(objs);
  const dep = runtimeAsDeployment(runtime, isvc);
  const problems = [];
  for (const name of ['schemas', 'unknownFields', 'security', 'resources', 'flags', 'termination']) {
    for (const p of k8s.CHECKS[name]([dep])) problems.push(`[${name}] ${p}`);
  }
  const c = runtime.spec.containers[0];
  if (c.name !== 'kserve-container') problems.push(`the runtime's container is ${c.name}, not kserve-container (KServe's name)`);
  const http = Number(k8s.flag(c, 'http_port', 8080));
  if (!(c.ports || []).some((p) => p.containerPort === http)) problems.push(`no container port is --http_port ${http}`);
  for (const [kind, want] of [['readinessProbe', '/v2/health/ready'], ['livenessProbe', '/v2/health/live'],
    ['startupProbe', '/v2/health/ready']]) {
    const get = (c[kind] || {}).httpGet;
    if (!get) { problems.push(`${kind}: not an httpGet probe`); continue; }
    if (get.path !== want) problems.push(`${kind}: path ${get.path}, not ${want}`);
    if (Number(get.port) !== http) problems.push(`${kind}: port ${get.port}, not --http_port ${http}`);
  }
  const repo = k8s.flag(c, 'model_repository', null);
  if (repo !== '/mnt/models') problems.push(`--model_repository is ${repo}, not /mnt/models (where KServe puts storageUri)`);
  return problems;
}

function checkPairing(objs) {
  const runtime = runtimeOf(objs);
  const isvc = isvcOf(objs);
  const problems = [];
  const protocols = runtime.spec.protocolVersions || [];
  for (const p of ['v2', 'grpc-v2']) if (!protocols.includes(p)) problems.push(`the runtime does not declare protocol ${p}`);
  const model = isvc.spec.predictor.model;
  if (model.runtime !== runtime.metadata.name) problems.push(`the InferenceService names runtime ${model.runtime}`);
  if (!runtime.spec.supportedModelFormats.some((f) => f.name === model.modelFormat.name)) {
    problems.push(`the runtime does not support model format ${model.modelFormat.name}`);
  }
  if (!protocols.includes(model.protocolVersion)) problems.push(`protocolVersion ${model.protocolVersion} is not the runtime's`);
  return problems;
}

const CHECKS = { kserveSchemas: checkKServeSchemas, runtimeContainer: checkRuntimeContainer, pairing: checkPairing };
const checkAll = (objs) => Object.entries(CHECKS).flatMap(([n, f]) => f(objs).map((p) => `[${n}] ${p}`));

test('deploy/kserve renders a ServingRuntime and an InferenceService in the nnserve namespace', () => {
  const objs = fresh();
  assert.deepEqual(objs.map((o) => o.kind).sort(), ['InferenceService', 'ServingRuntime']);
  for (const o of objs) assert.equal(o.metadata.namespace, 'nnserve');
});

test('the built-in renderer agrees with kubectl kustomize', { skip: !k8s.kubectlPath() && 'no kubectl' }, () => {
  const canonical = (o) => JSON.stringify(o, (_, v) => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v));
  assert.deepEqual(k8s.renderWithKubectl(DIR).map(canonical).sort(), fresh().map(canonical).sort());
});

test('every check passes on deploy/kserve', () => {
  assert.deepEqual(checkAll(fresh()), []);
});

const BROKEN = [
  ['a misspelt field fails the KServe schema', 'kserveSchemas', /additional properties/,
    (o) => { isvcOf(o).spec.predictor.model.storageURI = 'pvc://x'; }],
  ['an unknown protocol fails the KServe schema', 'kserveSchemas', /allowed values/,
    (o) => { runtimeOf(o).spec.protocolVersions.push('v3'); }],
  ['a probe on /healthz is not the V2 health endpoint', 'runtimeContainer', /readinessProbe: path \/readyz/,
    (o) => { runtimeOf(o).spec.containers[0].readinessProbe.httpGet.path = '/readyz'; }],
  ['a probe on another port fails', 'runtimeContainer', /livenessProbe: port 9000/,
    (o) => { runtimeOf(o).spec.containers[0].livenessProbe.httpGet.port = 9000; }],
  ['a flag nnserve lacks fails', 'runtimeContainer', /no flag --model_dir/,
    (o) => { runtimeOf(o).spec.containers[0].args.push('--model_dir=/mnt/models'); }],
  ['a root container fails the security rules', 'runtimeContainer', /runAsNonRoot/,
    (o) => { delete runtimeOf(o).spec.containers[0].securityContext.runAsNonRoot; }],
  ['a wrong container field type fails the Kubernetes schema', 'runtimeContainer', /schema/,
    (o) => { runtimeOf(o).spec.containers[0].ports[0].containerPort = 'http'; }],
  ['a runtime without grpc-v2 fails', 'pairing', /protocol grpc-v2/,
    (o) => { runtimeOf(o).spec.protocolVersions = ['v2']; }],
  ['an InferenceService naming another runtime fails', 'pairing', /names runtime triton/,
    (o) => { isvcOf(o).spec.predictor.model.runtime = 'triton'; }],
];

for (const [name, check, expect, breakIt] of BROKEN) {
  test(`broken: ${name}`, () => {
    const objs = fresh();
    breakIt(objs);
    const problems = CHECKS[check](objs);
    assert.ok(problems.some((p) => expect.test(p)), `${check} reported: ${JSON.stringify(problems)}`);
    assert.notDeepEqual(checkAll(objs), []);
  });
}
