// Offline validation of the Kubernetes manifests in deploy/k8s:
//   1. render the kustomization (kubectl kustomize when kubectl is on PATH or
//      $NNSERVE_KUBECTL names one; else renderKustomization below, which the
//      tests compare with kubectl; NNSERVE_KUBECTL= (empty) forces it);
//   2. validate every object against the Kubernetes OpenAPI schemas
//      (npm kubernetes-models; @kubernetes-models/prometheus-operator for
//      ServiceMonitor);
//   3. reject fields the API does not know (the schemas accept them, as the
//      API server does unless asked for strict validation; a misspelt
//      "readinesProbe" would silently leave a pod without its probe);
//   4. nnserve's own rules: selectors, ports, termination grace, security,
//      resources, the model repository volume, nnserve's flags (each one
//      defined by the server), training only with a token from a Secret.
// Each check returns a list of problems (strings); empty means it passes.
//
// As a command:  node tests/deploy/k8s_checks.cjs [DIR]   (default deploy/k8s)
// prints the problems and exits 1 if there are any.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const lib = require('./deploy_lib.cjs');

// ---------------------------------------------------------------------------
// Rendering

// The subset of kustomize that deploy/k8s uses: resources (files and
// directories with their own kustomization), namespace and images. Any other
// field is an error, so that a kustomization outgrowing this renderer fails
// loudly instead of rendering differently from kubectl.
const KUSTOMIZE_FIELDS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'images']);
const CLUSTER_SCOPED = new Set([
  'Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition',
  'PersistentVolume', 'StorageClass', 'PriorityClass', 'IngressClass',
]);

function renderKustomization(dir) {
  const file = ['kustomization.yaml', 'kustomization.yml', 'Kustomization']
    .map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
  if (!file) throw new Error(`${dir}: no kustomization.yaml`);
  const k = lib.loadYaml(file);
  for (const key of Object.keys(k)) {
    if (!KUSTOMIZE_FIELDS.has(key)) {
      throw new Error(`${file}: field "${key}" is not supported by the built-in renderer ` +
                      '(supported: resources, namespace, images)');
    }
  }
  let objects = [];
  for (const res of k.resources || []) {
    const p = path.join(dir, res);
    if (fs.statSync(p).isDirectory()) {
      objects.push(...renderKustomization(p));
    } else {
      objects.push(...lib.loadYamlDocs(p));
    }
  }
  if (k.namespace) {
    for (const o of objects) {
      if (o.kind === 'Namespace') continue;
      if (!CLUSTER_SCOPED.has(o.kind)) o.metadata = { ...o.metadata, namespace: k.namespace };
    }
  }
  for (const img of k.images || []) {
    for (const c of allContainers(objects)) {
      const { name, tag } = splitImage(c.image);
      if (name !== img.name) continue;
      c.image = `${img.newName || name}${img.newTag !== undefined ? `:${img.newTag}` : (tag ? `:${tag}` : '')}`;
    }
  }
  return objects;
}

function splitImage(image) {
  const at = image.indexOf('@');
  if (at >= 0) return { name: image.slice(0, at), tag: null };
  const colon = image.lastIndexOf(':');
  if (colon > image.lastIndexOf('/')) return { name: image.slice(0, colon), tag: image.slice(colon + 1) };
  return { name: image, tag: null };
}

// The kubectl to render with: $NNSERVE_KUBECTL if set (empty: none), else
// the one on PATH, else null.
function kubectlPath() {
  const env = process.env.NNSERVE_KUBECTL;
  if (env !== undefined) return env === '' ? null : env;
  return lib.which('kubectl');
}

function renderWithKubectl(dir, kubectl = kubectlPath()) {
  const out = execFileSync(kubectl, ['kustomize', dir], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000,
  });
  return lib.parseYamlDocs(out, `kubectl kustomize ${dir}`);
}

// kubectl when it is on PATH (what users run), else the built-in renderer.
function render(dir) {
  const kubectl = kubectlPath();
  return kubectl ? renderWithKubectl(dir, kubectl) : renderKustomization(dir);
}

// ---------------------------------------------------------------------------
// Schema validation (kubernetes-models)

// apiVersion + kind -> the kubernetes-models module that validates it.
function modelModule(apiVersion, kind) {
  if (apiVersion === 'monitoring.coreos.com/v1') {
    return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`;
  }
  return `kubernetes-models/${apiVersion}/${kind}`;
}

function id(o) {
  return `${o.kind || '?'}/${(o.metadata && o.metadata.name) || '?'}`;
}

function checkSchemas(objects) {
  const problems = [];
  for (const o of objects) {
    if (!o.apiVersion || !o.kind) {
      problems.push(`${id(o)}: apiVersion and kind are required`);
      continue;
    }
    let Model;
    try {
      Model = lib.requireDep(modelModule(o.apiVersion, o.kind))[o.kind];
    } catch {
      problems.push(`${id(o)}: no schema for ${o.apiVersion} ${o.kind} (unknown API version or kind)`);
      continue;
    }
    try {
      new Model(o).validate();
    } catch (e) {
      problems.push(`${id(o)}: schema: ${e.message}`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------
// Unknown fields, from the TypeScript declarations that kubernetes-models
// generates from the same OpenAPI document: every property of every object
// type, nested types by import.

// Type nodes: {k: 'leaf'} | {k: 'object', props: Map} | {k: 'map', value}
//           | {k: 'array', item} | {k: 'ref', name, file}
const fileTypes = new Map();  // .d.ts path -> top type node (lazy)

function tokenize(src) {
  src = src.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
  const re = /\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[A-Za-z_$][\w$]*|-?\d+(?:\.\d+)?|\S)/gy;
  const tokens = [];
  let m;
  while ((m = re.exec(src)) !== null) tokens.push(m[1]);
  return tokens;
}

function parseDts(file) {
  const text = fs.readFileSync(file, 'utf8');
  const imports = new Map();
  for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    for (const spec of m[1].split(',')) {
      const parts = spec.trim().split(/\s+as\s+/);
      if (parts[0]) imports.set(parts[1] || parts[0], m[2]);
    }
  }
  const tokens = tokenize(text);
  let i = 0;
  const peek = () => tokens[i];
  const next = () => tokens[i++];
  const expect = (t) => {
    if (tokens[i] !== t) throw new Error(`${file}: expected ${t}, found ${tokens[i]} at token ${i}`);
    i++;
  };
  const unquote = (t) => (t[0] === '"' || t[0] === "'" ? JSON.parse(t.replace(/^'|'$/g, '"')) : t);

  function parseObjectBody() {  // after '{'
    if (peek() === '[') {  // { [key: string]: T }
      expect('['); next(); expect(':'); next(); expect(']'); expect(':');
      const value = parseType();
      if (peek() === ';' || peek() === ',') next();
      expect('}');
      return { k: 'map', value };
    }
    const props = new Map();
    while (peek() !== '}') {
      const name = unquote(next());
      if (peek() === '?') next();
      expect(':');
      props.set(name, parseType());
      if (peek() === ';' || peek() === ',') next();
    }
    expect('}');
    return { k: 'object', props };
  }
  function parsePrimary() {
    const t = next();
    if (t === '{') return parseObjectBody();
    if (t === '(') { const inner = parseType(); expect(')'); return inner; }
    if (t === 'Array' && peek() === '<') { next(); const item = parseType(); expect('>'); return { k: 'array', item }; }
    if (/^[A-Za-z_$]/.test(t) && imports.has(t)) return { k: 'ref', name: t, file: resolveImport(file, imports.get(t)) };
    return { k: 'leaf' };  // string, number, boolean, any, literals
  }
  function parseType() {
    const alternatives = [parsePrimary()];
    while (peek() === '[' && tokens[i + 1] === ']') { i += 2; alternatives[alternatives.length - 1] = { k: 'array', item: alternatives[alternatives.length - 1] }; }
    while (peek() === '|') { next(); alternatives.push(parsePrimary()); }
    if (alternatives.length === 1) return alternatives[0];
    // `T | null` and the like: check as T; a union of structures: not checked.
    const structured = alternatives.filter((a) => a.k !== 'leaf');
    return structured.length === 1 ? structured[0] : { k: 'leaf' };
  }

  // The file's one declaration: `export interface I... {` or `export declare type I... =`.
  for (i = 0; i < tokens.length; i++) {
    if (tokens[i] === 'export' && tokens[i + 1] === 'interface') {
      i += 3;
      while (peek() !== '{') next();  // extends ...
      next();
      return parseObjectBody();
    }
    if (tokens[i] === 'export' && tokens[i + 1] === 'declare' && tokens[i + 2] === 'type') {
      return { k: 'leaf' };  // Quantity, IntOrString, Time, ...: scalars
    }
  }
  throw new Error(`${file}: no exported interface or type`);
}

function resolveImport(fromFile, spec) {
  const base = spec.startsWith('.')
    ? path.resolve(path.dirname(fromFile), spec)
    : path.join(lib.nodeDir(), 'node_modules', spec);
  return `${base}.d.ts`;
}

function typeOfFile(file) {
  if (!fileTypes.has(file)) fileTypes.set(file, parseDts(file));
  return fileTypes.get(file);
}

function unknownFields(value, type, where, problems) {
  while (type.k === 'ref') type = typeOfFile(type.file);
  if (value === null || typeof value !== 'object') return;
  if (type.k === 'array' && Array.isArray(value)) {
    value.forEach((v, n) => unknownFields(v, type.item, `${where}[${n}]`, problems));
  } else if (type.k === 'map' && !Array.isArray(value)) {
    for (const [key, v] of Object.entries(value)) unknownFields(v, type.value, `${where}.${key}`, problems);
  } else if (type.k === 'object' && !Array.isArray(value)) {
    for (const [key, v] of Object.entries(value)) {
      if (!type.props.has(key)) {
        problems.push(`${where}: unknown field "${key}"`);
      } else {
        unknownFields(v, type.props.get(key), `${where}.${key}`, problems);
      }
    }
  }
  // Type mismatches (an object where a list belongs) are the schema's job.
}

function checkUnknownFields(objects) {
  const problems = [];
  for (const o of objects) {
    const file = path.join(lib.nodeDir(), 'node_modules', `${modelModule(o.apiVersion, o.kind)}.d.ts`);
    if (!fs.existsSync(file)) {
      problems.push(`${id(o)}: no type declarations for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    unknownFields(o, typeOfFile(file), id(o), problems);
  }
  return problems;
}

// ---------------------------------------------------------------------------
// nnserve's rules

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

function workloads(objects) {
  return objects.filter((o) => WORKLOAD_KINDS.has(o.kind));
}

function podSpecs(objects) {
  return workloads(objects).map((w) => ({ owner: id(w), spec: (w.spec.template || {}).spec || {} }));
}

function allContainers(objects) {
  const out = [];
  for (const { spec } of podSpecs(objects)) {
    out.push(...(spec.initContainers || []), ...(spec.containers || []));
  }
  return out;
}

function templateLabels(w) {
  return ((w.spec.template || {}).metadata || {}).labels || {};
}

// {a: b} selects labels L when every pair is in L.
function selects(selector, labels) {
  return Object.entries(selector || {}).every(([k, v]) => labels[k] === v);
}

function checkSelectors(objects) {
  const problems = [];
  const ws = workloads(objects);
  if (ws.length === 0) problems.push('no Deployment, StatefulSet or DaemonSet');
  for (const w of ws) {
    const sel = (w.spec.selector || {});
    if (sel.matchExpressions) problems.push(`${id(w)}: spec.selector.matchExpressions is not checked here; use matchLabels`);
    if (!sel.matchLabels || Object.keys(sel.matchLabels).length === 0) {
      problems.push(`${id(w)}: spec.selector.matchLabels is empty`);
    } else if (!selects(sel.matchLabels, templateLabels(w))) {
      problems.push(`${id(w)}: spec.selector.matchLabels ${JSON.stringify(sel.matchLabels)} does not match ` +
                    `the pod template labels ${JSON.stringify(templateLabels(w))}`);
    }
    for (const t of (w.spec.template.spec || {}).topologySpreadConstraints || []) {
      if (!selects((t.labelSelector || {}).matchLabels, templateLabels(w))) {
        problems.push(`${id(w)}: a topologySpreadConstraint's labelSelector does not match its own pods`);
      }
    }
  }
  for (const s of objects.filter((o) => o.kind === 'Service')) {
    const sel = (s.spec || {}).selector;
    if (!sel) continue;
    if (!ws.some((w) => selects(sel, templateLabels(w)))) {
      problems.push(`${id(s)}: selector ${JSON.stringify(sel)} matches no pod template`);
    }
  }
  for (const p of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
    const sel = ((p.spec || {}).selector || {}).matchLabels;
    if (!ws.some((w) => selects(sel, templateLabels(w)))) {
      problems.push(`${id(p)}: selector matches no pod template`);
    }
  }
  for (const h of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
    const ref = h.spec.scaleTargetRef || {};
    const target = ws.find((w) => w.kind === ref.kind && w.metadata.name === ref.name);
    if (!target) {
      problems.push(`${id(h)}: scaleTargetRef ${ref.kind}/${ref.name} is not in the manifests`);
    } else if ((h.spec.metrics || []).some((m) => m.type === 'Resource' && m.resource.name === 'cpu')) {
      for (const c of target.spec.template.spec.containers) {
        if (!(((c.resources || {}).requests || {}).cpu)) {
          problems.push(`${id(h)}: scales on CPU utilisation but container ${c.name} has no CPU request`);
        }
      }
    }
  }
  return problems;
}

// The nnserve containers: those that run the nnserve server (not init).
function nnserveContainers(objects) {
  const out = [];
  for (const w of workloads(objects)) {
    for (const c of w.spec.template.spec.containers || []) {
      if (c.name === 'nnserve') out.push({ w, c });
    }
  }
  return out;
}

// The value of --name=value in a container's args; undefined for a bare
// --name (a bool set to true); `fallback` (the server's default) when absent.
// nnserve's flags are always written --name=value here (checkFlags).
function flag(c, name, fallback) {
  const args = [...(c.command || []), ...(c.args || [])];
  for (let n = 0; n < args.length; n++) {
    const a = args[n];
    if (a === `--${name}` || a === `-${name}`) return undefined;
    for (const prefix of [`--${name}=`, `-${name}=`]) {
      if (a.startsWith(prefix)) return a.slice(prefix.length);
    }
  }
  return fallback;
}

// Resolves a port reference (number or container port name) against a
// container; the port number, or null when it does not exist.
function containerPort(c, ref) {
  for (const p of c.ports || []) {
    if (ref === p.containerPort || ref === p.name) return p.containerPort;
  }
  return null;
}

function checkPorts(objects) {
  const problems = [];
  const nn = nnserveContainers(objects);
  if (nn.length === 0) problems.push('no container named "nnserve"');
  for (const { w, c } of nn) {
    const where = `${id(w)} container ${c.name}`;
    const grpc = Number(flag(c, 'port', 50051));
    const http = Number(flag(c, 'http_port', 8080));
    if (containerPort(c, 'grpc') !== grpc) {
      problems.push(`${where}: container port "grpc" must be ${grpc}, the server's --port`);
    }
    if (containerPort(c, 'http-metrics') !== http) {
      problems.push(`${where}: container port "http-metrics" must be ${http}, the server's --http_port`);
    }
    for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      const probe = c[kind];
      if (!probe) {
        if (kind !== 'startupProbe') problems.push(`${where}: no ${kind}`);
        continue;
      }
      const action = probe.grpc || probe.httpGet || probe.tcpSocket;
      if (!action) { problems.push(`${where}: ${kind} is neither grpc, httpGet nor tcpSocket`); continue; }
      const port = containerPort(c, action.port);
      if (port === null) {
        problems.push(`${where}: ${kind} port ${action.port} is not a container port`);
      } else if (probe.grpc && port !== grpc) {
        problems.push(`${where}: ${kind} is a gRPC probe on ${port}, not the gRPC port ${grpc}`);
      } else if (probe.httpGet && port !== http) {
        problems.push(`${where}: ${kind} is an HTTP probe on ${port}, not the HTTP port ${http}`);
      }
      if (probe.httpGet && !['/healthz', '/readyz'].includes(probe.httpGet.path)) {
        problems.push(`${where}: ${kind} path ${probe.httpGet.path} is not /healthz or /readyz`);
      }
    }
    const ann = w.spec.template.metadata.annotations || {};
    if (ann['prometheus.io/scrape'] === 'true' && Number(ann['prometheus.io/port']) !== http) {
      problems.push(`${id(w)}: annotation prometheus.io/port ${ann['prometheus.io/port']} is not the HTTP port ${http}`);
    }
  }
  for (const s of objects.filter((o) => o.kind === 'Service' && o.spec.selector)) {
    const selected = workloads(objects).filter((w) => selects(s.spec.selector, templateLabels(w)));
    for (const p of s.spec.ports || []) {
      const target = p.targetPort === undefined ? p.port : p.targetPort;
      for (const w of selected) {
        if (!w.spec.template.spec.containers.some((c) => containerPort(c, target) !== null)) {
          problems.push(`${id(s)}: port ${p.name || p.port} targets ${target}, which no container of ${id(w)} declares`);
        }
      }
    }
  }
  return problems;
}

function checkTermination(objects) {
  const problems = [];
  for (const { w, c } of nnserveContainers(objects)) {
    const drain = lib.parseDurationSeconds(flag(c, 'drain_grace', '5s'));
    const shutdown = lib.parseDurationSeconds(flag(c, 'shutdown_timeout', '30s'));
    if (Number.isNaN(drain) || Number.isNaN(shutdown)) {
      problems.push(`${id(w)}: --drain_grace or --shutdown_timeout is not a duration`);
      continue;
    }
    const grace = w.spec.template.spec.terminationGracePeriodSeconds ?? 30;  // Kubernetes' default
    if (!(grace > drain + shutdown)) {
      problems.push(`${id(w)}: terminationGracePeriodSeconds ${grace} must exceed --drain_grace + ` +
                    `--shutdown_timeout (${drain} s + ${shutdown} s), or the kubelet kills a draining server`);
    }
  }
  return problems;
}

// The "restricted" Pod Security Standard, plus a read-only root filesystem.
function checkSecurity(objects) {
  const problems = [];
  for (const { owner, spec } of podSpecs(objects)) {
    const pod = spec.securityContext || {};
    if (spec.hostNetwork || spec.hostPID || spec.hostIPC) problems.push(`${owner}: uses host namespaces`);
    for (const v of spec.volumes || []) {
      if (v.hostPath) problems.push(`${owner}: volume ${v.name} is a hostPath`);
    }
    for (const c of [...(spec.initContainers || []), ...(spec.containers || [])]) {
      const sc = c.securityContext || {};
      const where = `${owner} container ${c.name}`;
      const nonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
      const user = sc.runAsUser ?? pod.runAsUser;
      if (nonRoot !== true) problems.push(`${where}: runAsNonRoot is not true`);
      if (user === 0) problems.push(`${where}: runAsUser is 0 (root)`);
      if (sc.privileged) problems.push(`${where}: privileged`);
      if (sc.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation is not false`);
      if (!(((sc.capabilities || {}).drop) || []).includes('ALL')) problems.push(`${where}: capabilities do not drop ALL`);
      if (sc.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem is not true`);
      const seccomp = ((sc.seccompProfile || pod.seccompProfile) || {}).type;
      if (!['RuntimeDefault', 'Localhost'].includes(seccomp)) {
        problems.push(`${where}: seccompProfile is not RuntimeDefault or Localhost`);
      }
    }
  }
  return problems;
}

function checkResources(objects) {
  const problems = [];
  for (const { owner, spec } of podSpecs(objects)) {
    for (const c of [...(spec.initContainers || []), ...(spec.containers || [])]) {
      for (const kind of ['requests', 'limits']) {
        for (const r of ['cpu', 'memory']) {
          if (!(((c.resources || {})[kind] || {})[r])) {
            problems.push(`${owner} container ${c.name}: no resources.${kind}.${r}`);
          }
        }
      }
    }
  }
  return problems;
}

// --model_repository is a mounted PersistentVolumeClaim, ReadWriteMany when
// there can be more than one replica (so all serve what one has trained).
function checkModelRepository(objects) {
  const problems = [];
  for (const { w, c } of nnserveContainers(objects)) {
    const repo = flag(c, 'model_repository', null);
    if (!repo || !repo.startsWith('/')) {
      problems.push(`${id(w)}: --model_repository must be an absolute path on a volume`);
      continue;
    }
    const mount = (c.volumeMounts || []).find((m) => m.mountPath.replace(/\/+$/, '') === repo.replace(/\/+$/, ''));
    if (!mount) { problems.push(`${id(w)}: no volume is mounted at --model_repository ${repo}`); continue; }
    if (mount.readOnly) problems.push(`${id(w)}: the model repository is mounted read-only (Train writes to it)`);
    const volume = (w.spec.template.spec.volumes || []).find((v) => v.name === mount.name);
    const claimName = volume && volume.persistentVolumeClaim && volume.persistentVolumeClaim.claimName;
    if (!claimName) { problems.push(`${id(w)}: volume ${mount.name} is not a PersistentVolumeClaim`); continue; }
    const pvc = objects.find((o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name === claimName);
    if (!pvc) { problems.push(`${id(w)}: PersistentVolumeClaim ${claimName} is not in the manifests`); continue; }
    const scaled = (w.spec.replicas ?? 1) > 1 || objects.some((o) => o.kind === 'HorizontalPodAutoscaler' &&
        o.spec.scaleTargetRef.name === w.metadata.name && o.spec.maxReplicas > 1);
    if (scaled && !(pvc.spec.accessModes || []).includes('ReadWriteMany')) {
      problems.push(`${id(pvc)}: several replicas share the model repository, so it must be ReadWriteMany`);
    }
  }
  return problems;
}

// The flags nnserve defines (ABSL_FLAG in server/), plus absl's own.
function nnserveFlags(root = lib.ROOT) {
  const flags = new Map([['help', 'bool'], ['helpfull', 'bool'], ['flagfile', 'string'],
    ['fromenv', 'string'], ['tryfromenv', 'string'], ['undefok', 'string'], ['version', 'bool']]);
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.cc')) {
        for (const m of fs.readFileSync(p, 'utf8').matchAll(/ABSL_FLAG\(\s*([\w:<>]+)\s*,\s*(\w+)\s*,/g)) {
          flags.set(m[2], m[1]);
        }
      }
    }
  };
  walk(path.join(root, 'server'));
  return flags;
}

// Problems of a list of nnserve arguments: flags it does not define, and
// boolean syntax (--flag, --noflag) on flags that are not bools.
function checkFlagList(args, where, flags = nnserveFlags()) {
  const problems = [];
  for (const a of args) {
    const m = /^--?([^=]+)(=.*)?$/.exec(a);
    if (!m) { problems.push(`${where}: "${a}" is not a flag (nnserve takes no positional arguments)`); continue; }
    let name = m[1];
    if (!flags.has(name) && name.startsWith('no') && flags.get(name.slice(2)) === 'bool' && !m[2]) name = name.slice(2);
    if (!flags.has(name)) problems.push(`${where}: nnserve has no flag --${m[1]}`);
    else if (!m[2] && flags.get(name) !== 'bool') problems.push(`${where}: --${name} needs a value (--${name}=...)`);
  }
  return problems;
}

function checkFlags(objects) {
  const problems = [];
  const flags = nnserveFlags();
  for (const { w, c } of nnserveContainers(objects)) {
    if (c.command) problems.push(`${id(w)}: container nnserve overrides the image's entrypoint (command)`);
    problems.push(...checkFlagList(c.args || [], `${id(w)} container ${c.name}`, flags));
  }
  return problems;
}

// Training on a server reachable from the network needs a token, from a
// Secret (never a literal in the manifest), and never
// --allow_unauthenticated_training.
function checkTraining(objects) {
  const problems = [];
  for (const { w, c } of nnserveContainers(objects)) {
    const enabled = flag(c, 'enable_training', 'false');
    if (enabled !== undefined && ['false', '0'].includes(enabled)) continue;  // undefined: bare --enable_training
    const where = `${id(w)}: --enable_training`;
    const unauth = flag(c, 'allow_unauthenticated_training', 'false');
    if (unauth === undefined || !['false', '0'].includes(unauth)) {
      problems.push(`${where} with --allow_unauthenticated_training: anyone who reaches the pod can train`);
    }
    const token = flag(c, 'training_token', '');
    const ref = /^\$\((\w+)\)$/.exec(token || '');
    if (!ref) {
      problems.push(`${where} needs --training_token=$(ENV_VAR) with the variable from a Secret, not ${JSON.stringify(token)}`);
      continue;
    }
    const env = (c.env || []).find((e) => e.name === ref[1]);
    if (!env || !(env.valueFrom && env.valueFrom.secretKeyRef)) {
      problems.push(`${where}: the token variable ${ref[1]} must come from a secretKeyRef`);
    } else if (env.valueFrom.secretKeyRef.optional) {
      problems.push(`${where}: the token Secret must not be optional (an empty token fails the server's start)`);
    }
  }
  return problems;
}

const CHECKS = {
  schemas: checkSchemas,
  unknownFields: checkUnknownFields,
  selectors: checkSelectors,
  ports: checkPorts,
  termination: checkTermination,
  security: checkSecurity,
  resources: checkResources,
  modelRepository: checkModelRepository,
  flags: checkFlags,
  training: checkTraining,
};

function checkAll(objects) {
  const problems = [];
  for (const [name, check] of Object.entries(CHECKS)) {
    for (const p of check(objects)) problems.push(`[${name}] ${p}`);
  }
  return problems;
}

module.exports = {
  render, renderKustomization, renderWithKubectl, kubectlPath, CHECKS, checkAll, flag,
  nnserveFlags, checkFlagList,
};

if (require.main === module) {
  const dir = path.resolve(process.argv[2] || path.join(lib.ROOT, 'deploy', 'k8s'));
  let problems;
  try {
    const objects = render(dir);
    problems = checkAll(objects);
    if (problems.length === 0) console.log(`${dir}: ${objects.length} objects, all checks pass`);
  } catch (e) {
    problems = [e.message];
  }
  for (const p of problems) console.error(p);
  process.exit(problems.length === 0 ? 0 : 1);
}
