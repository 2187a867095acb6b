#!/usr/bin/python3
"""nnserve's engine against ONNX Runtime and PyTorch on the same .onnx files
(issue 19). Run through bench/peers.sh, which makes what this needs:

    /usr/bin/python3 bench/peers/peers.py ROUNDS SECONDS BIN MODELS_DIR NODE_MODULES

The three peers, one thread each, on scripts/make-onnx-models.py's exports
(MODELS_DIR/mnist_{mlp,cnn,rnn}.onnx) and the same real digits:
  engine        BIN/onnx_bench's Onnx/<model>/batch:<n>/threads:1 (the file
                imported by engine/onnx), one process a case,
                --benchmark_min_time=SECONDS
  ONNX Runtime  bench/peers/ort_peer.cjs (onnxruntime-node, graph
                optimisation "all"), SECONDS a case
  PyTorch       bench/peers/torch_peer.py (the networks rebuilt with the
                file's weights), the fastest of eager / TorchScript frozen /
                optimize_for_inference, chosen per case once before the rounds
                by SECONDS / 4 of each, then SECONDS a case
Before timing, each model runs on the first CHECK_IMAGES digits in all of
them: every output (probabilities; logits through a float64 softmax) must be
within TOLERANCE of PyTorch's float64 run of the same weights (the numerical
contract's reference tolerance), else nothing is timed and the exit status
is 1.
Each round: the fp32 matmul peak (BIN/engine_bench OneDnnMatmul1024/
threads:1, SECONDS / 2: tens of 2-GFLOP calls), ONNX Runtime's two per-call
probes at each batch size, SECONDS / 2 each (Identity [N,28,28] ->
[N,28,28], as issue 19 measured; Slice -> [N,10], the models' output size),
then case by case: engine, ONNX Runtime, PyTorch.
A ratio is images/s engine / peer within one round; the tables give the
median of the rounds' ratios and their min-max. ONNX Runtime "net" takes
the Slice probe's median over the rounds (at that batch size) off each
call's time.
Markdown on stdout, progress on stderr; PEERS_JSON=FILE also writes every
round's raw figures. PEERS_MODELS / PEERS_BATCHES (space-separated) narrow
the sweep, for a check of the machinery.
"""

import datetime
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from array import array

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODELS = {"mnist_mlp": "MLP", "mnist_cnn": "CNN", "mnist_rnn": "RNN"}
BATCHES = (1, 8, 32, 256)
PROBES = ("slice", "identity")
FORMS = ("eager", "frozen", "optimized")
CHECK_IMAGES = 16
TOLERANCE = 1e-5  # tests/support/numerical_contract.h, kReferenceTolerance


class PeerError(Exception):
    pass


class Peer:
    """A worker answering one JSON line per JSON request line."""

    def __init__(self, name, argv):
        self.name = name
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd=ROOT)
        self.info = self._read()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise PeerError("%s exited (status %s)" % (self.name, self.proc.wait()))
        return json.loads(line)

    def ask(self, **request):
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        if "error" in reply:
            raise PeerError("%s: %s" % (self.name, reply["error"]))
        return reply

    def close(self):
        try:
            self.proc.stdin.write('{"op": "quit"}\n')
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def benchmark(binary, name, seconds, env=None):
    """One Google Benchmark case by exact name: its JSON entry."""
    run = subprocess.run([binary, "--benchmark_filter=^%s(/real_time)?$" % name,
                          "--benchmark_min_time=%g" % seconds, "--benchmark_format=json"],
                         cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    try:
        found = json.loads(run.stdout)["benchmarks"]
    except (ValueError, KeyError):
        found = []
    if run.returncode != 0 or len(found) != 1 or found[0].get("error_occurred"):
        detail = found[0].get("error_message", "") if found else run.stderr.strip()[-400:]
        raise PeerError("%s %s: %s" % (os.path.basename(binary), name, detail or "no result"))
    return found[0]


def probabilities(raw, classes, kind):
    """Rows of `classes` outputs as probabilities (softmax, in float64, of
    logits or log-probabilities; `kind` as onnx_outputs names it)."""
    rows = [list(raw[i:i + classes]) for i in range(0, len(raw), classes)]
    if kind == "probabilities":
        return rows
    out = []
    for row in rows:
        top = max(row)
        e = [math.exp(v - top) for v in row]
        out.append([v / sum(e) for v in e])
    return out


def contract_error(actual, expected):
    """Largest |a - e| / max(1, |e|) (NaN counts as infinite)."""
    if len(actual) != len(expected) or any(len(a) != len(e) for a, e in zip(actual, expected)):
        return math.inf
    worst = 0.0
    for a_row, e_row in zip(actual, expected):
        for a, e in zip(a_row, e_row):
            error = abs(a - e) / max(1.0, abs(e))
            if math.isnan(error):
                return math.inf
            worst = max(worst, error)
    return worst


def check(model, bin_dir, models_dir, work, ort, torch):
    """All peers' outputs against PyTorch's float64 run; the engine's
    description of the model (flops_per_image, ...), plus its ISA line."""
    env = dict(os.environ, ONEDNN_VERBOSE="1")
    out_file = os.path.join(work, "engine-%s.f32" % model)
    run = subprocess.run([os.path.join(bin_dir, "onnx_outputs"),
                          os.path.join(models_dir, model + ".onnx"),
                          os.path.join(work, "images.f32"), str(CHECK_IMAGES), out_file],
                         capture_output=True, text=True, env=env, check=False)
    if run.returncode != 0:
        raise PeerError("engine (onnx_outputs) on %s: %s" % (model, run.stderr.strip()))
    lines = run.stdout.splitlines()
    info = json.loads([line for line in lines if line.startswith("{")][-1])
    info["isa"] = next((line.split("isa:", 1)[1] for line in lines
                        if line.startswith("onednn_verbose,info,cpu,isa:")), "unknown")
    engine = array("f")
    with open(out_file, "rb") as f:
        engine.frombytes(f.read())
    classes, kind = info["classes"], info["output"]
    torch_out = torch.ask(op="outputs", model=model, n=CHECK_IMAGES)
    reference = probabilities(torch_out["reference"], classes, kind)
    errors = {"engine": contract_error(probabilities(engine, classes, "probabilities"),
                                       reference),
              "ONNX Runtime": contract_error(probabilities(
                  ort.ask(op="outputs", model=model, n=CHECK_IMAGES)["outputs"],
                  classes, kind), reference)}
    for form in FORMS:
        errors["PyTorch " + form] = contract_error(
            probabilities(torch_out[form], classes, kind), reference)
    log("check %s (%d digits, against PyTorch in float64): %s" % (
        model, CHECK_IMAGES, ", ".join("%s %.1e" % kv for kv in errors.items())))
    bad = [name for name, e in errors.items() if not e <= TOLERANCE]
    if bad:
        raise PeerError("%s: %s outside %.0e of the float64 reference: not timed" %
                        (model, ", ".join(bad), TOLERANCE))
    return info


def log(message):
    print(message, file=sys.stderr, flush=True)


def spread(values, digits=2):
    """"median (min-max)" of per-round values; None (no figure that round)
    is left out and the rounds that had one are counted."""
    known = [v for v in values if v is not None]
    if not known:
        return "n/a"
    f = "%%.%df" % digits
    text = (f + " (" + f + "-" + f) % (statistics.median(known), min(known), max(known))
    if len(known) < len(values):
        text += "; %d of %d rounds" % (len(known), len(values))
    return text + ")"


def rate(value):
    if value is None:
        return "n/a"
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return "%.1f%s" % (value / scale, unit)
    return "%.0f" % value


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def net_rate(images_per_s, batch, probe_us):
    """Images/s with the probe's per-call time taken off (None if nothing
    is left: the probe took as long as the call)."""
    left = batch / images_per_s - probe_us * 1e-6
    return batch / left if left > 0 else None


def run_rounds(rounds, seconds, bin_dir, models_dir, cases, forms, ort, torch):
    """Every round's raw figures: peak GFLOP/s, probe us/call per batch,
    images/s per case and peer."""
    batches = sorted({b for _, b in cases})
    results, started = [], time.monotonic()
    onnx_env = dict(os.environ, NNSERVE_ONNX_MODELS_DIR=models_dir)
    for r in range(1, rounds + 1):
        peak = benchmark(os.path.join(bin_dir, "engine_bench"), "OneDnnMatmul1024/threads:1",
                         seconds / 2)["GFLOP/s"]
        probes = {b: {p: ort.ask(op="time", model=p, batch=b, seconds=seconds / 2)["us_per_call"]
                      for p in PROBES} for b in batches}
        figures = {}
        for model, batch in cases:
            engine = benchmark(os.path.join(bin_dir, "onnx_bench"),
                               "Onnx/%s/batch:%d/threads:1" % (model, batch), seconds,
                               onnx_env)["items_per_second"]
            ort_ips = ort.ask(op="time", model=model, batch=batch, seconds=seconds)
            torch_ips = torch.ask(op="time", model=model, variant=forms[model, batch],
                                  batch=batch, seconds=seconds)
            figures["%s/%d" % (model, batch)] = {
                "engine": engine, "ort": ort_ips["images_per_s"],
                "torch": torch_ips["images_per_s"]}
        results.append({"peak_gflops": peak, "probe_us": probes, "images_per_s": figures})
        elapsed = time.monotonic() - started
        log("round %d/%d done, %.0f s (about %.0f s to go)" % (
            r, rounds, elapsed, elapsed / r * (rounds - r)))
    return results


def choose_forms(cases, seconds, torch):
    """The fastest PyTorch form per case, SECONDS / 4 of each (a form that
    fails is left out, with its error on stderr)."""
    forms = {}
    for model, batch in cases:
        speed = {}
        for form in FORMS:
            try:
                speed[form] = torch.ask(op="time", model=model, variant=form, batch=batch,
                                        seconds=seconds / 4)["images_per_s"]
            except PeerError as e:  # a form TorchScript cannot run is left out
                log("PyTorch %s batch %d, %s left out: %s" % (model, batch, form, e))
        if not speed:
            raise PeerError("PyTorch runs %s at batch %d in none of its forms" % (model, batch))
        forms[model, batch] = max(speed, key=speed.get)
        log("PyTorch %s batch %d: %s -> %s" % (
            model, batch, ", ".join("%s %s" % (f, rate(v)) for f, v in speed.items()),
            forms[model, batch]))
    return forms


def report(args, setup, cases, forms, results):
    """The Markdown tables."""
    rounds, seconds = args
    models = list(dict.fromkeys(m for m, _ in cases))
    batches = sorted({b for _, b in cases})
    peaks = [r["peak_gflops"] for r in results]
    peak = statistics.median(peaks)

    def per_round(model, batch, value):
        """value(the round's images/s by peer, batch) of each round."""
        return [value(r["images_per_s"]["%s/%d" % (model, batch)], batch) for r in results]

    # The binding's cost: the Slice probe's median over the rounds (one
    # round's probe is as noisy as the call it would be taken off).
    binding_us = {b: statistics.median(r["probe_us"][b]["slice"] for r in results)
                  for b in batches}

    def ort_net(f, batch):
        return net_rate(f["ort"], batch, binding_us[batch])

    ratios = {
        "ort_net": lambda f, b: f["engine"] / n if (n := ort_net(f, b)) else None,
        "ort_raw": lambda f, b: f["engine"] / f["ort"],
        "torch": lambda f, b: f["engine"] / f["torch"]}
    lines = [
        "`bench/peers.sh %d %g`, %s UTC, %s, oneDNN ISA %s. One thread each, the same "
        "`.onnx` files (scripts/make-onnx-models.py) and digits; ONNX Runtime %s "
        "(onnxruntime-node, graph optimisation \"all\"); PyTorch %s (BLAS: %s; the fastest "
        "of eager, TorchScript frozen and optimize_for_inference, per case); fp32 matmul "
        "peak (`OneDnnMatmul1024/threads:1`) %.0f GFLOP/s (%.0f-%.0f)." % (
            rounds, seconds, setup["date"], setup["cpu"], setup["isa"], setup["ort"],
            setup["torch"], setup["blas"], peak, min(peaks), max(peaks)),
        "",
        "Images/s, engine ÷ peer, median of %d per-round ratios (min-max); above 1 the "
        "engine is faster." % rounds]
    titles = {"ort_net": "engine ÷ ONNX Runtime, the binding's per-call cost taken off "
                         "(Slice probe)",
              "ort_raw": "engine ÷ ONNX Runtime, raw (through the Node binding)",
              "torch": "engine ÷ PyTorch"}
    for key, title in titles.items():
        lines += ["", "**%s**" % title, "",
                  "| model | " + " | ".join("batch %d" % b if i == 0 else str(b)
                                           for i, b in enumerate(batches)) + " |",
                  "|---|" + "---|" * len(batches)]
        for model in models:
            lines.append("| %s | " % MODELS[model] + " | ".join(
                spread(per_round(model, b, ratios[key])) if (model, b) in forms else "-"
                for b in batches) + " |")
    lines += ["", "**ONNX Runtime's per-call cost** (probes, µs a call, median (min-max); "
                  "input [N,28,28] as the models')", "",
              "| probe | " + " | ".join("batch %d" % b if i == 0 else str(b)
                                       for i, b in enumerate(batches)) + " |",
              "|---|" + "---|" * len(batches)]
    for probe, label in (("slice", "Slice, output [N,10] (taken off)"),
                         ("identity", "Identity, output [N,28,28]")):
        lines.append("| %s | " % label + " | ".join(
            spread([r["probe_us"][b][probe] for r in results], 1) for b in batches) + " |")
    lines += ["", "**Images/s and GFLOP/s as a share of the peak** (medians of the rounds; "
                  "FLOPs per image: `Model::flops_per_image` of the imported model, "
                  "a multiply-add = 2)", "",
              "| model | batch | engine | GFLOP/s | % peak | ONNX Runtime raw | net | % peak (net) "
              "| PyTorch | form | % peak |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for model, batch in cases:
        flops = setup["flops"][model]
        engine = median(per_round(model, batch, lambda f, b: f["engine"]))
        ort_raw = median(per_round(model, batch, lambda f, b: f["ort"]))
        net = median(per_round(model, batch, ort_net))
        torch_ips = median(per_round(model, batch, lambda f, b: f["torch"]))

        def share(ips, flops=flops):
            return "%.0f %%" % (100 * ips * flops * 1e-9 / peak) if ips else "n/a"
        lines.append("| %s | %d | %s | %.1f | %s | %s | %s | %s | %s | %s | %s |" % (
            MODELS[model], batch, rate(engine), engine * flops * 1e-9, share(engine),
            rate(ort_raw), rate(net), share(net), rate(torch_ips), forms[model, batch],
            share(torch_ips)))
    lines += ["", "MFLOP per image: " + ", ".join(
        "%s %.2f" % (MODELS[m], setup["flops"][m] * 1e-6) for m in models) + "."]
    return "\n".join(lines)


def cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        name = "%s, %d cores" % (names[0], len(names)) if names else "unknown CPU"
    except OSError:
        name = "unknown CPU"
    if "nnhide_avx512" in os.environ.get("LD_PRELOAD", ""):
        name += " with AVX-512 hidden from every peer (PEERS_HIDE_AVX512=1)"
    return name


def main():
    if len(sys.argv) != 6:
        sys.exit("usage: peers.py ROUNDS SECONDS BIN MODELS_DIR NODE_MODULES")
    rounds, seconds = int(sys.argv[1]), float(sys.argv[2])
    bin_dir, models_dir, node_modules = (os.path.abspath(a) for a in sys.argv[3:6])
    if rounds < 1 or not seconds > 0:
        sys.exit("peers.py: ROUNDS >= 1 and SECONDS > 0")
    models = os.environ.get("PEERS_MODELS", " ".join(MODELS)).split()
    batches = [int(b) for b in os.environ.get("PEERS_BATCHES", " ".join(map(str, BATCHES))).split()]
    if not set(models) <= set(MODELS) or not batches or not all(1 <= b <= 256 for b in batches):
        sys.exit("peers.py: PEERS_MODELS from %s, PEERS_BATCHES from 1..256" % " ".join(MODELS))
    cases = [(m, b) for m in models for b in batches]
    peers = []
    with tempfile.TemporaryDirectory(prefix="nnserve-peers.") as work:
        try:
            torch = Peer("PyTorch", [sys.executable, os.path.join(HERE, "torch_peer.py"),
                                     models_dir, work])
            peers.append(torch)
            ort = Peer("ONNX Runtime", ["node", os.path.join(HERE, "ort_peer.cjs"),
                                        node_modules, models_dir, work])
            peers.append(ort)
            infos = {m: check(m, bin_dir, models_dir, work, ort, torch) for m in models}
            setup = {"date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"),
                     "cpu": cpu_name(), "isa": infos[models[0]]["isa"],
                     "ort": ort.info["ort"], "torch": torch.info["torch"],
                     "blas": ", ".join("/".join(p.split("/")[-2:]) for p in
                                       torch.info["blas"].split(", ")),
                     "flops": {m: infos[m]["flops_per_image"] for m in models}}
            forms = choose_forms(cases, seconds, torch)
            results = run_rounds(rounds, seconds, bin_dir, models_dir, cases, forms, ort, torch)
        except PeerError as e:
            sys.exit("peers.py: %s" % e)
        finally:
            for peer in peers:
                peer.close()
    if os.environ.get("PEERS_JSON"):
        with open(os.environ["PEERS_JSON"], "w", encoding="utf-8") as f:
            json.dump({"rounds": rounds, "seconds": seconds, "setup": setup,
                       "forms": {"%s/%d" % k: v for k, v in forms.items()},
                       "results": results}, f, indent=1)
    print(report((rounds, seconds), setup, cases, forms, results))


if __name__ == "__main__":
    main()
