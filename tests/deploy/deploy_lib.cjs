// Shared helpers of the deploy tests: paths, the npm packages installed by
// node-deps.sh, YAML loading and absl duration parsing.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { createRequire } = require('node:module');

// The repository root (tests/deploy/../..).
const ROOT = path.resolve(__dirname, '..', '..');

// Where node-deps.sh installed the npm packages: $NNSERVE_DEPLOY_NODE_DIR
// (CTest sets it to <build>/deploy-node).
function nodeDir() {
  const dir = process.env.NNSERVE_DEPLOY_NODE_DIR;
  if (!dir) {
    throw new Error('NNSERVE_DEPLOY_NODE_DIR is not set: run tests/deploy/node-deps.sh DIR ' +
                    'and set it to DIR (ctest does both)');
  }
  return path.resolve(dir);
}

// require() of a package installed by node-deps.sh.
function requireDep(name) {
  return createRequire(path.join(nodeDir(), 'package.json'))(name);
}

// The documents of a YAML file (or text) as plain objects; a syntax error
// throws with the file name. Empty documents are dropped.
function parseYamlDocs(text, file = '<text>') {
  const YAML = requireDep('yaml');
  const docs = YAML.parseAllDocuments(text, { prettyErrors: true });
  const out = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    }
    const value = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

function loadYamlDocs(file) {
  return parseYamlDocs(fs.readFileSync(file, 'utf8'), file);
}

function loadYaml(file) {
  const docs = loadYamlDocs(file);
  if (docs.length !== 1) throw new Error(`${file}: expected one YAML document, found ${docs.length}`);
  return docs[0];
}

// An absl::Duration flag value ("45s", "1m30s", "500ms", "1.5h", "0") in
// seconds; NaN if it does not parse.
function parseDurationSeconds(text) {
  if (text === '0') return 0;
  const unit = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  let m;
  while ((m = re.exec(text)) !== null) {
    total += parseFloat(m[1]) * unit[m[2]];
    matched = re.lastIndex;
  }
  return matched === text.length && matched > 0 ? total : NaN;
}

// A fresh temporary directory, removed when the process exits.
function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `nnserve-${prefix}-`));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// The first executable called `name` on PATH, or null.
function which(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

module.exports = {
  ROOT, nodeDir, requireDep, parseYamlDocs, loadYamlDocs, loadYaml,
  parseDurationSeconds, tempDir, which,
};
