// The web console in a real browser (issue 21): Debian's /usr/bin/chromium,
// headless, driven by playwright-core, loads the console from a real
// nnserve started here on 127.0.0.1 (ephemeral ports) over a repository of
// trained models (the console_models fixture). It checks that
//  - the Models panel lists every model of the repository, with its layers
//    and training history;
//  - 20 real MNIST test digits (spread over the test set; those every model
//    reads as their label on the original image), drawn on the canvas
//    stroke by stroke with mouse events (each row's run of bright pixels is
//    one stroke), get in at least 18 of 20 cases for every model the top
//    class that V2 infer gives the original image;
//  - a test digit uploaded as a PNG, white on black and black on white
//    (the page inverts a light background), gets from every model the top
//    class of the original image;
//  - Training: read-only without the token, a wrong token refused in the
//    page; with the right one a short fine-tune (the smallest run that still
//    draws a curve: 2 epochs of 2000 images) started from the form, whose
//    loss curve grows batch by batch while it runs, ends with a validation
//    point per epoch, and whose new version appears in the Models panel;
//  - Serving: every model's request rate, latency and batch size charts,
//    live (requests sent while the panel is open show a rate above 0);
//  - the page made no request to any host but the server, and logged no
//    error (a Content-Security-Policy violation is one);
// and saves a screenshot of each panel (NNSERVE_CONSOLE_SCREENSHOTS; the
// README's pictures in docs/ are these).
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { testDigits, grayPng } = require('./mnist_digits.cjs');

const NODE_DIR = process.env.NNSERVE_CONSOLE_NODE_DIR;
const BIN_DIR = process.env.NNSERVE_BIN_DIR;
const MODELS = process.env.NNSERVE_CONSOLE_MODELS;
const DATA = process.env.NNSERVE_DATA_DIR;
const SHOTS = process.env.NNSERVE_CONSOLE_SCREENSHOTS;
const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'console-test-token';
const { chromium } = require(path.join(NODE_DIR, 'node_modules', 'playwright-core'));

const DIGITS = 20;
// Agreement of drawn with original: at least AGREE of DIGITS for every
// model (issue 21's line). Over 175 such digits, each model agrees on
// about 19.3 to 20 of 20 (the RNN lowest), so 18 holds with a margin.
const AGREE = 18;
const SCALE = 10;      // canvas pixels per MNIST pixel (280 / 28)
// A pixel at or above this is traced. The trace colours a filled region in
// (a stroke per row), and the page's pen adds about (pen - 1) pixels to
// its thickness, so the core traced is a little thinner than half-ink.
const BRIGHT = 160;

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// Starts nnserve on loopback with ephemeral ports over a copy of the
// fixture's repository in `dir` (the training job publishes a version into
// it: the fixture stays as trained); resolves to {child, http} once it
// wrote its HTTP port.
async function startServer(dir) {
  const repository = path.join(dir, 'models');
  fs.cpSync(MODELS, repository, { recursive: true });
  const portFile = path.join(dir, 'port'), httpFile = path.join(dir, 'http_port');
  const log = fs.openSync(path.join(dir, 'nnserve.log'), 'w');
  const child = spawn(path.join(BIN_DIR, 'nnserve'), [
    '--model_repository=' + repository, '--listen_address=127.0.0.1', '--port=0',
    '--port_file=' + portFile, '--http_listen_address=127.0.0.1', '--http_port=0',
    '--http_port_file=' + httpFile, '--drain_grace=0s', '--repository_poll_interval=200ms',
    '--enable_training', '--training_token=' + TOKEN, '--data_dir=' + DATA],
    { stdio: ['ignore', log, log] });
  for (let i = 0; i < 600; ++i) {
    if (child.exitCode !== null) break;
    const text = fs.existsSync(httpFile) ? fs.readFileSync(httpFile, 'utf8').trim() : '';
    if (/^\d+$/.test(text)) return { child, http: Number(text) };
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error('nnserve did not start:\n' + fs.readFileSync(path.join(dir, 'nnserve.log'), 'utf8'));
}

// The top class V2 infer gives `pixels` (28x28 bytes) on `model`.
async function inferTop(base, model, pixels) {
  const body = { inputs: [{ name: 'images', datatype: 'FP32', shape: [1, 28, 28],
                            data: Array.from(pixels, (p) => p / 255) }] };
  const r = await fetch(`${base}/v2/models/${model}/infer`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  assert.strictEqual(r.status, 200, await r.clone().text());
  const p = (await r.json()).outputs.find((o) => o.name === 'probabilities').data;
  return p.indexOf(Math.max(...p));
}

// The strokes that trace a digit: each row's runs of bright pixels, as
// [x0, x1, y] in MNIST pixels.
function strokes(pixels) {
  const out = [];
  for (let y = 0; y < 28; ++y) {
    for (let x = 0; x < 28; ++x) {
      if (pixels[y * 28 + x] < BRIGHT) continue;
      let end = x;
      while (end + 1 < 28 && pixels[y * 28 + end + 1] >= BRIGHT) ++end;
      out.push([x, end, y]);
      x = end;
    }
  }
  return out;
}

test('the console lists the models and recognises drawn digits as the models do', async (t) => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing (scripts/install-deps.sh)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nnserve-console-'));
  const server = await startServer(dir);
  t.after(() => { server.child.kill('SIGKILL'); fs.rmSync(dir, { recursive: true, force: true }); });
  const base = `http://127.0.0.1:${server.http}`;
  // Every model of the repository, loaded.
  const names = fs.readdirSync(MODELS).filter((n) => fs.statSync(path.join(MODELS, n)).isDirectory()).sort();
  assert.ok(names.length >= 2, `models in ${MODELS}: ${names}`);
  for (let i = 0; ; ++i) {
    const list = await (await fetch(base + '/v1/models')).json();
    const ready = (list.models || []).filter((m) => (m.versions || []).some((v) => v.state === 'VERSION_STATE_AVAILABLE'));
    if (ready.length === names.length) break;
    assert.ok(i < 300, 'models did not load: ' + JSON.stringify(list));
    await sleep(100);
  }

  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'nnserve-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  t.after(async () => { await context.close(); fs.rmSync(profile, { recursive: true, force: true }); });
  const page = context.pages()[0] || await context.newPage();
  const requests = [], problems = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));

  // ---- Models ------------------------------------------------------------
  await page.goto(base + '/');
  await page.waitForFunction((n) => document.querySelectorAll('article.model').length === n, names.length);
  const shown = await page.$$eval('article.model', (a) => a.map((e) => e.dataset.model).sort());
  assert.deepStrictEqual(shown, names);
  for (const name of names) {
    const card = page.locator(`article.model[data-model="${name}"]`);
    assert.ok(await card.locator('.state-VERSION_STATE_AVAILABLE').count() >= 1, name);
    assert.ok(await card.locator('table tr').count() > 3, `${name}: layers and history`);
    const text = await card.innerText();
    assert.match(text, /test accuracy: \d+\.\d+ %/, name);
    // Every layer of the default version, with its Keras-style shape.
    const info = await (await fetch(`${base}/v1/models/${name}`)).json();
    for (const layer of info.model.versions[0].layers) {
      const shape = '(' + ['None'].concat(layer.outputShape).join(', ') + ')';
      assert.ok(text.includes(`${layer.name}\t${layer.kind}\t${shape}`), `${name}: ${layer.name} ${shape}`);
    }
  }
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, 'console-models.png'), fullPage: true });

  // ---- Try it ------------------------------------------------------------
  await page.click('#tab-try');
  await page.waitForFunction((n) => document.querySelectorAll('.answer').length === n, names.length);
  const pad = await page.locator('#pad').boundingBox();
  assert.strictEqual(Math.round(pad.width), 28 * SCALE);
  const agree = Object.fromEntries(names.map((n) => [n, 0]));
  // The digits drawn: real test digits that every model classifies as
  // their label on the original image (a digit the models misread already,
  // such as test image 751, says nothing about the canvas), taken from 5 *
  // DIGITS candidates spread over the test set, in an order that keeps the
  // DIGITS chosen spread over it too.
  const candidates = testDigits(DATA, 5 * DIGITS);
  const ordered = candidates.map((d, k) => [k % 5, k, d]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const digits = [], expectedOf = [];
  for (const [, , digit] of ordered) {
    if (digits.length === DIGITS) break;
    const expected = {};
    for (const name of names) expected[name] = await inferTop(base, name, digit.pixels);
    if (names.every((name) => expected[name] === digit.label)) {
      digits.push(digit);
      expectedOf.push(expected);
    }
  }
  assert.strictEqual(digits.length, DIGITS, 'too few test digits that every model reads right');
  const readWhenDrawn = [];  // digits every model read right when drawn
  for (const [k, digit] of digits.entries()) {
    const expected = expectedOf[k];
    if (k > 0) await page.click('#clear');
    for (const [x0, x1, y] of strokes(digit.pixels)) {
      const at = (x) => [pad.x + (x + 0.5) * SCALE, pad.y + (y + 0.5) * SCALE];
      await page.mouse.move(...at(x0));
      await page.mouse.down();
      await page.mouse.move(...at(x1), { steps: Math.max(1, x1 - x0) });
      await page.mouse.up();
    }
    // Every model has answered the last stroke's image.
    await page.waitForFunction(() => {
      const r = document.getElementById('results');
      return r.dataset.seq !== '0' && r.dataset.doneSeq === r.dataset.seq;
    });
    const tops = await page.$$eval('.answer', (cards) =>
      Object.fromEntries(cards.map((c) => [c.dataset.model, c.dataset.top])));
    for (const name of names) {
      if (Number(tops[name]) === expected[name]) ++agree[name];
      else t.diagnostic(`${name}: digit ${digit.index} (label ${digit.label}) drawn: ${tops[name]}, original: ${expected[name]}`);
    }
    if (names.every((name) => Number(tops[name]) === expected[name])) readWhenDrawn.push(k);
  }
  await page.screenshot({ path: path.join(SHOTS, 'console-try-it.png'), fullPage: true });

  // ---- PNG upload ----------------------------------------------------------
  // The page preprocesses an upload as it does a drawing (re-centred,
  // scaled to the 20x20 box), so the digit uploaded is one that every model
  // read right when drawn: its answer is then the original's, whatever the
  // margin of another digit.
  assert.ok(readWhenDrawn.length > 0, 'no drawn digit was read right by every model');
  const uploaded = digits[readWhenDrawn[readWhenDrawn.length - 1]];
  const expected = {};
  for (const name of names) expected[name] = await inferTop(base, name, uploaded.pixels);
  for (const [kind, pixels] of [['white on black', uploaded.pixels],
                                ['black on white', uploaded.pixels.map((p) => 255 - p)]]) {
    const before = await page.$eval('#results', (r) => r.dataset.seq);
    await page.setInputFiles('#upload', { name: 'digit.png', mimeType: 'image/png',
                                          buffer: grayPng(pixels, 28, 28) });
    await page.waitForFunction((b) => {
      const r = document.getElementById('results');
      return r.dataset.seq !== b && r.dataset.doneSeq === r.dataset.seq;
    }, before);
    const tops = await page.$$eval('.answer', (cards) =>
      Object.fromEntries(cards.map((c) => [c.dataset.model, c.dataset.top])));
    for (const name of names) {
      assert.strictEqual(Number(tops[name]), expected[name], `${name}: uploaded PNG, ${kind}`);
    }
  }
  t.diagnostic('agreement of drawn with original: ' + JSON.stringify(agree));
  for (const name of names) {
    assert.ok(agree[name] >= AGREE, `${name}: ${agree[name]} of ${DIGITS} drawn digits agree`);
  }

  // ---- Training ------------------------------------------------------------
  await page.click('#tab-training');
  await page.waitForFunction(() => /read-only/.test(document.getElementById('train-status').textContent));
  assert.strictEqual(await page.$eval('#panel-training', (p) => p.dataset.writable), 'no');
  assert.ok(await page.$eval('#train-form fieldset', (f) => f.disabled), 'the form is disabled without the token');
  await page.fill('#token', 'not-the-token');
  await page.click('#token-use');
  await page.waitForFunction(() => /token refused/.test(document.getElementById('train-status').textContent));
  assert.match(await page.textContent('#train-status'), /Bearer <token>/);
  assert.strictEqual(await page.$eval('#panel-training', (p) => p.dataset.writable), 'no');
  assert.strictEqual(await page.inputValue('#token'), '', 'the page does not keep the token in the form');
  await page.fill('#token', TOKEN);
  await page.click('#token-use');
  await page.waitForFunction(() => document.getElementById('panel-training').dataset.writable === 'yes');
  const tuned = names[0];
  const before = await (await fetch(`${base}/v1/models/${tuned}`)).json();
  const newest = Math.max(...before.model.versions.map((v) => Number(v.version)));
  await page.selectOption('#train-mode', 'finetune');
  await page.selectOption('#train-base', tuned);
  await page.fill('#train-epochs', '2');
  await page.fill('#train-examples', '2000');
  await page.click('#train-start');
  // The curve grows while the job runs: several distinct point counts.
  const counts = new Set();
  for (let i = 0; ; ++i) {
    const [points, state] = await page.$eval('#curves', (c) => [Number(c.dataset.points || 0), c.dataset.state]);
    if (points > 0) counts.add(points);
    if (state === 'JOB_STATE_SUCCEEDED') break;
    assert.ok(i < 1200 && !/FAILED|CANCELLED/.test(state || ''), `job state ${state}`);
    await sleep(25);
  }
  t.diagnostic('loss curve point counts seen while training: ' + [...counts].join(' '));
  assert.ok(counts.size >= 2, `the curve did not grow: ${[...counts]}`);
  assert.strictEqual(await page.$eval('#curves', (c) => c.dataset.epochs), '2', 'a validation point per epoch');
  assert.match(await page.textContent('#curves-title'), new RegExp(`published version ${newest + 1}`));
  await page.screenshot({ path: path.join(SHOTS, 'console-training.png'), fullPage: true });
  // The new version appears in the Models panel.
  await page.click('#tab-models');
  await page.waitForSelector(`article.model[data-model="${tuned}"] .version[data-version="${newest + 1}"]`);

  // ---- Serving -------------------------------------------------------------
  await page.click('#tab-serving');
  const load = (async () => {
    for (let i = 0; i < 120; ++i) await inferTop(base, names[i % names.length], digits[0].pixels);
  })();
  await page.waitForFunction((n) => {
    const cards = document.querySelectorAll('#serving .serving-model');
    return cards.length >= n && [...cards].some((c) => Number(c.querySelector('.now').dataset.rate) > 0);
  }, names.length, { timeout: 20000 });
  await load;
  const servingShown = await page.$$eval('#serving .serving-model', (a) => a.map((e) => e.dataset.model).sort());
  for (const name of names) assert.ok(servingShown.includes(name), `${name} in Serving`);
  await page.screenshot({ path: path.join(SHOTS, 'console-serving.png'), fullPage: true });

  // ---- the page's own conduct ---------------------------------------------
  assert.ok(requests.length > DIGITS);
  // (The uploads' blob: URLs are in-page objects of the server's origin.)
  const foreign = requests.filter((u) => !u.startsWith(base + '/') && !u.startsWith(`blob:${base}/`));
  assert.deepStrictEqual(foreign, []);
  // Chromium logs each refused request (the probe without a token, the
  // wrong token) as a failed resource: those 401s are the refusals the
  // test asked for; anything else is a fault.
  const refused = problems.filter((p) => /status of 401 \(Unauthorized\)/.test(p));
  assert.ok(refused.length >= 1, 'the wrong token was refused');
  assert.deepStrictEqual(problems.filter((p) => !/favicon/.test(p) && !refused.includes(p)), []);
});
