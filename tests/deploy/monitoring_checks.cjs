// Checks of the PromQL that operators run against nnserve: the Grafana
// dashboard (deploy/grafana/nnserve-dashboard.json) and the alerts
// (deploy/prometheus/alerts.yml).
//   - every expression parses: `promtool check rules` on a rules file made
//     from them (Grafana's variables replaced by sample values);
//   - every metric exists: the families of server/metrics/metric_names.h,
//     the process_* families of server/metrics/process_collector.cc, and
//     Prometheus' own `up`;
//   - every label an expression filters, groups or prints ({{label}} legends)
//     exists on the metrics it uses, and label values with a fixed set
//     (code, method, reason, state) are values the server emits.
// Each check returns a list of problems (strings); empty means it passes.
//
// As a command:  node tests/deploy/monitoring_checks.cjs [DASHBOARD.json]
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const lib = require('./deploy_lib.cjs');

// ---------------------------------------------------------------------------
// The metric catalogue, read from the server's sources.

// Labels Prometheus attaches to every scraped series. A label an exporter
// exposes under one of these names is stored as exported_<name>.
const TARGET_LABELS = ['job', 'instance'];

function loadCatalog(root = lib.ROOT) {
  const namesH = fs.readFileSync(path.join(root, 'server/metrics/metric_names.h'), 'utf8');
  const families = new Map();  // name -> {type, labels: Set, values: Map<label, Set>}
  for (const m of namesH.matchAll(/^\/\/ (nnserve_\w+)\s+(counter|gauge|histogram)\s+([\w,]+)/gm)) {
    families.set(m[1], { type: m[2], labels: new Set(m[3].split(',')), values: new Map() });
  }
  const constants = [...namesH.matchAll(/constexpr char k(\w+)\[\] = "([^"]*)"/g)];
  for (const [, constant, name] of constants) {
    if (name.startsWith('nnserve_') && !families.has(name)) {
      throw new Error(`metric_names.h: ${name} (k${constant}) is missing from the family table`);
    }
  }
  const valuesOf = (prefix) => new Set(constants.filter(([, c]) => c.startsWith(prefix)).map(([, , v]) => v));
  const setValues = (family, label, values) => {
    if (families.has(family) && values.size > 0) families.get(family).values.set(label, values);
  };
  setValues('nnserve_rejected_total', 'reason', valuesOf('RejectReason'));
  setValues('nnserve_model_info', 'state', valuesOf('ModelState'));
  setValues('nnserve_training_jobs', 'state', valuesOf('TrainingState'));

  // The RPCs of both services: nnserve.v1 and the Open Inference Protocol.
  const methods = new Set();
  for (const f of ['proto/nnserve/v1/inference.proto', 'proto/inference/open_inference.proto']) {
    const proto = fs.readFileSync(path.join(root, f), 'utf8');
    for (const m of proto.matchAll(/\brpc\s+(\w+)\s*\(/g)) methods.add(m[1]);
  }
  const protocolBlock = namesH.match(/ProtocolLabel[\s\S]*?kLabels\[kNumProtocols\] = \{([\s\S]*?)\};/);
  if (!protocolBlock) throw new Error('metric_names.h: the protocol label values (ProtocolLabel) were not found');
  const protocols = new Set([...protocolBlock[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]));
  const codesCc = fs.readFileSync(path.join(root, 'common/status_codes.cc'), 'utf8');
  const codeBlock = codesCc.match(/StatusCodeName[\s\S]*?kNames\[\] = \{([\s\S]*?)\};/);
  if (!codeBlock) throw new Error('common/status_codes.cc: the status code names (kNames) were not found');
  const codes = new Set([...codeBlock[1].matchAll(/"([A-Z_]+)"/g)].map((m) => m[1]));
  for (const f of ['nnserve_requests_total']) {
    setValues(f, 'method', methods);
    setValues(f, 'code', codes);
  }
  for (const f of ['nnserve_requests_total', 'nnserve_request_duration_seconds']) {
    setValues(f, 'protocol', protocols);
  }
  setValues('nnserve_request_duration_seconds', 'method', methods);

  const processCc = fs.readFileSync(path.join(root, 'server/metrics/process_collector.cc'), 'utf8');
  // prometheus::MetricType::Counter / ::Gauge (earlier MetricType::kCounter).
  for (const m of processCc.matchAll(/"(process_\w+)",\s*"[^"]*",\s*MetricType::k?(\w+)/g)) {
    families.set(m[1], { type: m[2].toLowerCase(), labels: new Set(), values: new Map() });
  }
  if (![...families.keys()].some((n) => n.startsWith('process_'))) {
    throw new Error('process_collector.cc: no process_* families found');
  }
  families.set('up', { type: 'gauge', labels: new Set(), values: new Map(), builtin: true });
  return families;
}

// A series name (nnserve_x_bucket) -> {family, name, suffix} or null.
function resolveSeries(catalog, name) {
  if (catalog.has(name)) return { family: catalog.get(name), base: name, suffix: '' };
  const m = name.match(/^(.*)_(bucket|sum|count)$/);
  if (m && catalog.has(m[1]) && catalog.get(m[1]).type === 'histogram') {
    return { family: catalog.get(m[1]), base: m[1], suffix: m[2] };
  }
  return null;
}

// The label names a series of `name` carries once scraped.
function seriesLabels(catalog, name) {
  const s = resolveSeries(catalog, name);
  if (!s) return null;
  const labels = new Set(TARGET_LABELS);
  for (const l of s.family.labels) labels.add(TARGET_LABELS.includes(l) ? `exported_${l}` : l);
  if (s.suffix === 'bucket') labels.add('le');
  return labels;
}

// ---------------------------------------------------------------------------
// PromQL scanning (enough of the lexer to find metric names and labels).

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool',
  'and', 'or', 'unless', 'offset', 'atan2', 'inf', 'nan', 'start', 'end']);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const AGGREGATORS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count',
  'count_values', 'bottomk', 'topk', 'quantile']);

function lex(expr) {
  const re = /\s*(?:("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)|((?:0x[0-9a-fA-F]+|\d*\.?\d+(?:[eE][+-]?\d+)?)(?:ms|s|m|h|d|w|y)?(?:\d+(?:ms|s|m|h|d|w|y))*)|([a-zA-Z_:][a-zA-Z0-9_:]*)|(=~|!~|!=|==|<=|>=|\S))/gy;
  const tokens = [];
  let m;
  while (re.lastIndex < expr.length && (m = re.exec(expr)) !== null) {
    if (m[0].trim() === '') break;
    if (m[1] !== undefined) tokens.push({ t: 'str', v: m[1].slice(1, -1) });
    else if (m[2] !== undefined) tokens.push({ t: 'num', v: m[2] });
    else if (m[3] !== undefined) tokens.push({ t: 'id', v: m[3] });
    else tokens.push({ t: 'op', v: m[4] });
  }
  return tokens;
}

// {metrics: [{name, matchers: [{label, op, value}]}], grouping: [labels]}
function scan(expr) {
  const tokens = lex(expr);
  const metrics = [];
  const grouping = [];
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    const nextTok = tokens[i + 1];
    if (tok.t === 'id' && GROUPING.has(tok.v) && nextTok && nextTok.v === '(') {
      for (i += 2; i < tokens.length && tokens[i].v !== ')'; i++) {
        if (tokens[i].t === 'id') grouping.push(tokens[i].v);
      }
      continue;
    }
    let selector = null;
    const isCall = nextTok && (nextTok.v === '(' ||
        (AGGREGATORS.has(tok.v) && (nextTok.v === 'by' || nextTok.v === 'without')));
    if (tok.t === 'id' && !KEYWORDS.has(tok.v) && !isCall) {
      selector = { name: tok.v, matchers: [] };
      if (nextTok && nextTok.v === '{') i++;
    } else if (tok.v === '{') {
      selector = { name: null, matchers: [] };
    }
    if (!selector) continue;
    if (tokens[i] && tokens[i].v === '{') {
      for (i++; i < tokens.length && tokens[i].v !== '}'; i++) {
        const [label, op, value] = [tokens[i], tokens[i + 1], tokens[i + 2]];
        if (label.t === 'id' && op && ['=', '!=', '=~', '!~'].includes(op.v) && value && value.t === 'str') {
          if (label.v === '__name__' && op.v === '=') selector.name = value.v;
          else selector.matchers.push({ label: label.v, op: op.v, value: value.v });
          i += 2;
        }
      }
    }
    metrics.push(selector);
  }
  return { metrics, grouping };
}

// Problems of one expression: unknown metrics, labels and label values.
// `legendLabels`: labels a legend prints ({{label}}).
function checkExpression(catalog, expr, where, legendLabels = []) {
  const problems = [];
  const { metrics, grouping } = scan(expr);
  if (metrics.length === 0) problems.push(`${where}: uses no metric`);
  const labelSets = [];
  for (const sel of metrics) {
    if (!sel.name) { problems.push(`${where}: a selector without a metric name`); continue; }
    const labels = seriesLabels(catalog, sel.name);
    if (!labels) { problems.push(`${where}: unknown metric ${sel.name}`); continue; }
    labelSets.push(labels);
    const family = resolveSeries(catalog, sel.name).family;
    for (const { label, op, value } of sel.matchers) {
      if (!labels.has(label)) {
        problems.push(`${where}: ${sel.name} has no label ${label} (it has ${[...labels].sort().join(', ')})`);
        continue;
      }
      const allowed = family.values.get(label);
      if (!allowed || value.includes('$')) continue;
      // An exact value, or a regex that is a plain alternation of words.
      const candidates = op === '=' || op === '!=' ? [value]
        : (/^[\w|]+$/.test(value) ? value.split('|') : []);
      for (const v of candidates) {
        if (!allowed.has(v)) {
          problems.push(`${where}: ${sel.name}{${label}} is never "${v}" (values: ${[...allowed].join(', ')})`);
        }
      }
    }
  }
  for (const label of grouping) {
    for (const [n, labels] of labelSets.entries()) {
      if (!labels.has(label)) problems.push(`${where}: groups by ${label}, which ${metrics[n].name} does not have`);
    }
  }
  for (const label of legendLabels) {
    if (!labelSets.some((labels) => labels.has(label))) {
      problems.push(`${where}: the legend prints {{${label}}}, a label none of its metrics has`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------
// Grafana

const GRAFANA_INTERVALS = {
  __rate_interval: '5m', __interval: '1m', __range: '1h', __range_s: '3600', __interval_ms: '60000',
};

// Replaces Grafana's variables with values PromQL accepts: `values[name]`
// when given, else built-in intervals with durations and dashboard variables
// (which appear inside label matchers) with a word. Returns {expr, problems}.
function substituteVariables(expr, variables, where, values = {}) {
  const problems = [];
  const out = expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g, (whole, a, b, c) => {
    const name = a || b || c;
    if (name in values) return values[name];
    if (name in GRAFANA_INTERVALS) return GRAFANA_INTERVALS[name];
    if (variables.has(name)) return 'x';
    problems.push(`${where}: undefined variable ${whole}`);
    return whole;
  });
  return { expr: out, problems };
}

// Every panel, rows' nested panels included.
function allPanels(dashboard) {
  const out = [];
  const walk = (panels) => {
    for (const p of panels || []) {
      out.push(p);
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  return out;
}

// [{where, expr (raw), legend}] of every panel target and query variable.
function dashboardQueries(dashboard) {
  const out = [];
  for (const p of allPanels(dashboard)) {
    for (const t of p.targets || []) {
      out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr, legend: t.legendFormat || '' });
    }
  }
  for (const v of (dashboard.templating || {}).list || []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query || {}).query;
    const m = /^\s*label_values\((.*),\s*(\w+)\)\s*$/.exec(q || '');
    if (m) {
      out.push({ where: `variable ${v.name}`, expr: m[1], legend: `{{${m[2]}}}` });
    } else {
      const r = /^\s*query_result\((.*)\)\s*$/.exec(q || '');
      out.push({ where: `variable ${v.name}`, expr: r ? r[1] : q, legend: '' });
    }
  }
  return out;
}

function checkDashboardLayout(dashboard) {
  const problems = [];
  const ids = new Set();
  const cells = new Map();
  for (const p of allPanels(dashboard)) {
    if (ids.has(p.id)) problems.push(`panel "${p.title}": duplicate id ${p.id}`);
    ids.add(p.id);
    const g = p.gridPos || {};
    if (!(g.w > 0 && g.h > 0 && g.x >= 0 && g.y >= 0 && g.x + g.w <= 24)) {
      problems.push(`panel "${p.title}": gridPos ${JSON.stringify(g)} is outside the 24-column grid`);
      continue;
    }
    for (let x = g.x; x < g.x + g.w; x++) {
      for (let y = g.y; y < g.y + g.h; y++) {
        const other = cells.get(`${x},${y}`);
        if (other) {
          problems.push(`panel "${p.title}" overlaps panel "${other}"`);
          x = g.x + g.w;
          break;
        }
        cells.set(`${x},${y}`, p.title);
      }
    }
    if (p.type !== 'row') {
      if (!(p.targets || []).length) problems.push(`panel "${p.title}": no queries`);
      const uid = (p.datasource || {}).uid;
      if (uid !== '${datasource}') problems.push(`panel "${p.title}": data source must be the $datasource variable`);
      for (const t of p.targets || []) {
        if (t.datasource && t.datasource.uid !== '${datasource}') {
          problems.push(`panel "${p.title}" ${t.refId}: data source must be the $datasource variable`);
        }
      }
    }
  }
  const ds = ((dashboard.templating || {}).list || []).find((v) => v.name === 'datasource');
  if (!ds || ds.type !== 'datasource' || ds.query !== 'prometheus') {
    problems.push('templating: needs a "datasource" variable of type datasource, query prometheus');
  }
  return problems;
}

// Metric names, label names and values, variables and legends.
function checkDashboardQueries(catalog, dashboard) {
  const problems = [];
  const variables = new Set(((dashboard.templating || {}).list || []).map((v) => v.name));
  for (const q of dashboardQueries(dashboard)) {
    if (!q.expr || !q.expr.trim()) { problems.push(`${q.where}: empty expression`); continue; }
    const sub = substituteVariables(q.expr, variables, q.where);
    problems.push(...sub.problems);
    const legendLabels = [...q.legend.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]);
    problems.push(...checkExpression(catalog, sub.expr, q.where, legendLabels));
  }
  return problems;
}

// The families each dashboard query uses (base names).
function familiesUsed(catalog, exprs) {
  const used = new Set();
  for (const expr of exprs) {
    for (const sel of scan(expr).metrics) {
      const s = sel.name && resolveSeries(catalog, sel.name);
      if (s) used.add(s.base);
    }
  }
  return used;
}

// ---------------------------------------------------------------------------
// promtool

function promtool() {
  return process.env.NNSERVE_PROMTOOL || lib.which('promtool') || '/usr/bin/promtool';
}

// Runs `promtool check rules` on a file of recording rules made from
// `items` ({where, expr}); returns problems, naming each expression that
// fails on its own.
function promtoolCheckExpressions(items) {
  const dir = lib.tempDir('promql');
  const run = (list, file) => {
    const rules = { groups: [{ name: 'expressions', rules: list.map((it, n) => ({ record: `check:expr_${n}`, expr: it.expr })) }] };
    fs.writeFileSync(file, JSON.stringify(rules, null, 1));  // YAML is a superset of JSON
    return spawnSync(promtool(), ['check', 'rules', file], { encoding: 'utf8', timeout: 60000 });
  };
  const all = run(items, path.join(dir, 'all.yml'));
  if (all.error) return [`promtool: ${all.error.message}`];
  if (all.status === 0) return [];
  const problems = [];
  items.forEach((it, n) => {
    const one = run([it], path.join(dir, `expr_${n}.yml`));
    if (one.status !== 0) {
      const detail = `${one.stdout}${one.stderr}`.split('\n').filter((l) => /err|parse|unexpected/i.test(l)).join(' ').trim();
      problems.push(`${it.where}: promtool: ${detail || 'rejected'} in: ${it.expr}`);
    }
  });
  return problems.length > 0 ? problems : [`promtool check rules failed: ${all.stdout}${all.stderr}`];
}

function checkDashboardPromql(dashboard) {
  const variables = new Set(((dashboard.templating || {}).list || []).map((v) => v.name));
  const items = dashboardQueries(dashboard)
    .filter((q) => q.expr && q.expr.trim())
    .map((q) => ({ where: q.where, expr: substituteVariables(q.expr, variables, q.where).expr }));
  return promtoolCheckExpressions(items);
}

function checkDashboard(dashboard, catalog = loadCatalog()) {
  return [...checkDashboardLayout(dashboard), ...checkDashboardQueries(catalog, dashboard),
          ...checkDashboardPromql(dashboard)];
}

// Alert and recording rules: the metric, label and value checks (promtool
// checks their syntax as a rules file).
function checkRuleFile(file, catalog = loadCatalog()) {
  const problems = [];
  const rules = lib.loadYaml(file);
  for (const g of rules.groups || []) {
    for (const r of g.rules || []) {
      const where = `${path.basename(file)}: ${r.alert || r.record}`;
      problems.push(...checkExpression(catalog, r.expr, where));
    }
  }
  return problems;
}

module.exports = {
  loadCatalog, scan, checkExpression, substituteVariables, dashboardQueries, allPanels,
  checkDashboardLayout, checkDashboardQueries, checkDashboardPromql, checkDashboard,
  promtoolCheckExpressions, familiesUsed, checkRuleFile, promtool, TARGET_LABELS,
};

if (require.main === module) {
  const file = path.resolve(process.argv[2] || path.join(lib.ROOT, 'deploy/grafana/nnserve-dashboard.json'));
  let problems;
  try {
    problems = checkDashboard(JSON.parse(fs.readFileSync(file, 'utf8')));
    if (problems.length === 0) console.log(`${file}: all checks pass`);
  } catch (e) {
    problems = [`${file}: ${e.message}`];
  }
  for (const p of problems) console.error(p);
  process.exit(problems.length === 0 ? 0 : 1);
}
