#!/usr/bin/env python3
"""The issue's target ratios and the end-to-end table, from JMH JSON result files of one run.

   python3 benchmarks/ratios.py benchmarks/results/quiet-<stamp>-*.json                 # print
   python3 benchmarks/ratios.py --write benchmarks/README.md benchmarks/results/quiet-<stamp>-*.json

Prints the tables (markdown) to stdout. With --write it replaces the part of the README between
'<!-- ratios.py:begin -->' and '<!-- ratios.py:end -->' with them, and REFUSES (exit 1, nothing
written) unless every JMH result used:
  * was run with at least 2 forks (so every row has an error bar), and
  * recorded the quiet figures (LoadProfiler through run.sh: outside.cpu, load.beforeRun), and the
    machine was quiet: the 1-minute load average before run.sh started anything at most
    --max-load-per-core (1.5) per core, and in every iteration of every fork the CPU used by processes
    OUTSIDE the run (not run.sh's process tree: regions JVM, Redis, JMH host and forks) at most
    --max-outside-per-core (0.10) of the machine. The load average during the run is NOT a criterion:
    a broker benchmark's own regions JVM and clients push it to 3.2-4.6 on 2 cores on an idle machine
    (the quiet run of 2026-12-05). The issue's "load above 1.5 per core" is read as outside load.
Errors: a ratio's error is propagated from JMH's 99.9 % confidence half-widths (relative errors
added in quadrature); a p99 of SampleTime results is shown with its range over forks.
Non-JMH files given (the -lag.json / -footprint.json of run.sh) are read for their own rows.
The end-to-end section also prints the CPU per message of each pipeline, split into brokers (the
regions JVM) and clients (the JMH fork), and the ceiling it implies for Tandem / raw1 throughput on
these shared cores (cpu_section), and Tandem's work per message (count.*).
"""
import argparse, json, math, os, sys

# ---------------------------------------------------------------- the discipline
MAX_LOAD_PER_CORE = 1.5      # the 1-minute load average before the run started, per core
MAX_OUTSIDE_PER_CORE = 0.10  # CPU of processes outside the run, share of the machine, per iteration


def worst(metric):
    """The highest value of a LoadProfiler secondary metric over all forks and iterations."""
    return max(v for fork in metric["rawData"] for v in fork)


def discipline_problems(results, mains=(), max_load_per_core=MAX_LOAD_PER_CORE,
                        max_outside_per_core=MAX_OUTSIDE_PER_CORE):
    """Why these results may not be published; empty when they may.

    results: (label, path, JMH result) of every result a table uses; mains: (name, path, dict) of the
    plain mains' JSON. A result is refused when it has fewer than 2 forks, or lacks the quiet figures
    (LoadProfiler through run.sh), or the machine was not quiet: the load average before the run (before
    run.sh started anything, so all of it came from outside) above max_load_per_core per core, or in any
    iteration of any fork the CPU of processes outside the run above max_outside_per_core of the machine.
    The load average DURING the run is not a criterion: it counts the run's own brokers and clients.
    """
    problems = []
    for label, path, r in results:
        if r.get("forks", 1) < 2:
            problems.append(f"{label}: {r.get('forks', 1)} fork(s), at least 2 needed for error bars ({path})")
        sm = r.get("secondaryMetrics") or {}
        if "outside.cpu" not in sm or "load.beforeRun" not in sm:
            problems.append(f"{label}: no outside load recorded (outside.cpu and load.beforeRun: run it with "
                            f"benchmarks/run.sh, which adds -prof dev.tandem.benchmarks.LoadProfiler) ({path})")
            continue
        cores = (sm.get("load.cores") or {}).get("score") or 1
        before_run = worst(sm["load.beforeRun"])
        if before_run > max_load_per_core * cores:
            problems.append(f"{label}: load before the run {before_run:.2f} on {cores:.0f} cores > "
                            f"{max_load_per_core} per core ({path})")
        outside = worst(sm["outside.cpu"])
        if outside > max_outside_per_core:
            problems.append(f"{label}: processes outside the run used {outside:.1%} of the CPU in an iteration"
                            f" > {max_outside_per_core:.0%} ({path})")
    for name, path, d in mains:
        if "loadBefore" not in d and "outsideCpu" not in d:
            continue  # a main that records no load (FootprintMain: a size, not a timing)
        if d.get("outsideCpu") is None or d.get("loadBeforeRun") is None:
            problems.append(f"{name}: no outside load recorded (outsideCpu, loadBeforeRun; run it with run.sh) ({path})")
            continue
        cores = d.get("cores", 1)
        if d["loadBeforeRun"] > max_load_per_core * cores:
            problems.append(f"{name}: load before the run {d['loadBeforeRun']:.2f} > {max_load_per_core} per core ({path})")
        if d["outsideCpu"] > max_outside_per_core:
            problems.append(f"{name}: processes outside the run used {d['outsideCpu']:.1%} of the CPU > "
                            f"{max_outside_per_core:.0%} ({path})")
    return problems


def quiet_line(results, mains=()):
    """One line for the tables: the worst outside figures of the results used."""
    outs, befores = [], []
    for _, _, r in results:
        sm = r.get("secondaryMetrics") or {}
        if "outside.cpu" in sm:
            outs.append(worst(sm["outside.cpu"]))
        if "load.beforeRun" in sm:
            befores.append(worst(sm["load.beforeRun"]) / ((sm.get("load.cores") or {}).get("score") or 1))
    for _, _, d in mains:
        if d.get("outsideCpu") is not None:
            outs.append(d["outsideCpu"])
    if not outs:
        return "Quiet check: no outside load recorded."
    return (f"Quiet check: processes outside the run used at most {max(outs):.1%} of the CPU in any iteration "
            f"(limit {MAX_OUTSIDE_PER_CORE:.0%}); load average before the run at most "
            f"{max(befores) if befores else float('nan'):.2f} per core (limit {MAX_LOAD_PER_CORE}).")


def secondary(r, label):
    """(score, error) of a JMH result's secondary metric; (None, None) when absent."""
    if r is None:
        return None, None
    m = (r.get("secondaryMetrics") or {}).get(label)
    if m is None:
        return None, None
    e = m.get("scoreError")
    return m["score"], (None if e is None or isinstance(e, str) or math.isnan(e) else e)


def fmt(v, e=None, digits=2):
    if v is None:
        return "n/a"
    f = f"{{:,.{digits}f}}"
    return f.format(v) + ("" if e is None else " ± " + f.format(e))


def ratio_of(a, ea, b, eb):
    v = a / b
    if ea is None or eb is None:
        return v, None
    return v, v * math.sqrt((ea / a) ** 2 + (eb / b) ** 2)


E2E_PIPELINES = (("tandem", "Tandem (ANY publish, full guarantee, both regions)"),
                 ("raw1", "raw Kafka, one region"), ("raw2", "raw Kafka, both regions process everything"))
E2E_GOAL = 0.7  # Tandem / raw single-region throughput


SPLIT_STAGES = (
    ("lead", "follower's poll → owner's poll (signed: how much later the owner's loop got the message)"),
    ("claim", "owner's poll → its claim written (the turn's routing, envelope checks, `claimAll`)"),
    ("barrier", "claim written → handler start (claims durable in the own changelog, the poll's earlier handlers)"),
    ("complete", "handler start → COMPLETED written in the owner's store"),
    ("replication", "COMPLETED written → applied in the follower's store"),
    ("follower", "sum: follower's poll → applied (the follower's added latency of the copies it held)"),
)
DASH = "—"


def split_section(ol):
    """The follower's added latency split by stage (EndToEndLatencyProfiler / FollowerStages, session 9).

    ol: the Tandem open-loop result, or None. Each stage's split.<stage>.p50/p99 and .tail (its mean
    over the held copies at or above the follower p99). Printed whenever the Tandem open-loop result
    is given; figures a run did not record (before session 9) show as a dash. Empty without it.
    """
    if ol is None:
        return []

    def cell(label):
        v, e = secondary(ol, label)
        return DASH if v is None else fmt(v, e)

    out = ["The follower's added latency split by stage (open loop, Tandem; per copy the follower held, "
           "i.e. polled before the owner's COMPLETED applied; `nanoTime` stamps in the clients' JVM; "
           "`FollowerStages`). The stages of one copy add up to its latency; percentiles do not add up, "
           "so the last column is each stage's mean over the tail, the held copies at or above the "
           "iteration's follower p99, and those means do:", "",
           "| stage | from → to | p50 (ms) | p99 (ms) | mean in the p99 tail (ms) |",
           "|---|---|---|---|---|"]
    for name, what in SPLIT_STAGES:
        label = f"**{name}**" if name == "follower" else name
        out.append(f"| {label} | {what} | {cell(f'split.{name}.p50')} | {cell(f'split.{name}.p99')} | "
                   f"{cell(f'split.{name}.tail')} |")
    tails = {n: secondary(ol, f"split.{n}.tail")[0] for n, _ in SPLIT_STAGES[:-1]}
    total = secondary(ol, "split.follower.tail")[0]
    if total is not None and all(v is not None for v in tails.values()):
        top = max(tails, key=lambda n: tails[n])
        held, tail_n = secondary(ol, "split.samples")[0], secondary(ol, "split.tail.samples")[0]
        out.append("")
        out.append(f"In the tail ({tail_n:,.0f} of {held:,.0f} held copies per iteration, averaged) the largest "
                   f"stage is **{top}**: {tails[top]:,.2f} of {total:,.2f} ms ({tails[top] / total:.0%})"
                   if total > 0 else "The tail's mean latency is 0 ms: nothing to split.")
    else:
        out.append("")
        out.append(f"Stage split: {DASH} (not recorded by this run; `EndToEndLatencyProfiler` records it "
                   "since session 9).")
    out.append("")
    return out


def cpu_section(e2e, goal=E2E_GOAL):
    """The end-to-end CPU table and the ceiling it implies (markdown lines; empty without cpu.* figures).

    e2e: pipeline -> (saturation result, open-loop result). Each result's cpu.*.us.per.msg are CPU
    microseconds per message done, per iteration window, averaged (EndToEndLatencyProfiler.window):
    brokers = the regions JVM (both regions' Kafka brokers), clients = the JMH fork. On this rig both
    share the cores; when a pipeline keeps them saturated its throughput is about
    cores / (total CPU per message), so raw1's total over Tandem's bounds Tandem / raw1 throughput.
    """
    if not any(secondary(r, "cpu.total.us.per.msg")[0] is not None
               or secondary(r, "cpu.clients.us.per.msg")[0] is not None
               for pair in e2e.values() for r in pair):
        return []
    lines = ["CPU per message done (µs of CPU per message, per iteration window, averaged; brokers = the "
             "regions JVM, both regions' Kafka brokers; clients = the JMH fork: producers, consumers, "
             "Tandem's stores and changelogs; both on the same cores; `EndToEndLatencyProfiler.window`):",
             "",
             "| pipeline | brokers µs/msg | clients µs/msg | total µs/msg | cores busy | open loop: total µs/msg |",
             "|---|---|---|---|---|---|"]
    for p, label in E2E_PIPELINES:
        sat, ol = e2e.get(p, (None, None))
        cores = secondary(sat, "cpu.cores.used")
        avail = secondary(sat, "load.cores")[0]
        busy = fmt(*cores) + ("" if cores[0] is None or avail is None else f" of {avail:.0f}")
        lines.append(f"| {label} | {fmt(*secondary(sat, 'cpu.brokers.us.per.msg'), 1)} | "
                     f"{fmt(*secondary(sat, 'cpu.clients.us.per.msg'), 1)} | {fmt(*secondary(sat, 'cpu.total.us.per.msg'), 1)} | "
                     f"{busy} | {fmt(*secondary(ol, 'cpu.total.us.per.msg'), 1)} |")
    lines.append("")
    t = secondary(e2e.get("tandem", (None, None))[0], "cpu.total.us.per.msg")
    r1 = secondary(e2e.get("raw1", (None, None))[0], "cpu.total.us.per.msg")
    if t[0] and r1[0]:
        c, ce = ratio_of(r1[0], r1[1], t[0], t[1])
        verdict = ("below the goal: on these shared cores no change that keeps this CPU per message reaches it"
                   if c < goal else "at or above the goal: the CPU per message does not forbid it")
        lines.append(f"Ceiling at saturation (the cores busy): Tandem / raw single-region throughput <= raw1's "
                     f"total CPU per message / Tandem's = {fmt(r1[0], None, 1)} / {fmt(t[0], None, 1)} µs = "
                     f"**{fmt(c, ce)}** (goal {goal}: {verdict}).")
        cores = secondary(e2e["tandem"][0], "load.cores")[0]
        raw1_rate = (e2e["raw1"][0].get("primaryMetric") or {}).get("score")
        if cores and raw1_rate:
            # the same bound without assuming raw1 saturated the cores: all of them for Tandem's CPU alone
            most = cores * 1e6 / t[0]
            lines[-1] += (f" Without assuming raw1 kept the cores busy: {cores:.0f} cores / {fmt(t[0], None, 1)} µs = "
                          f"{most:,.0f} records/s at most = {most / raw1_rate:.2f} of raw1's measured {raw1_rate:,.0f}.")
        for part in ("brokers", "clients"):
            tp = secondary(e2e["tandem"][0], f"cpu.{part}.us.per.msg")[0]
            rp = secondary(e2e["raw1"][0], f"cpu.{part}.us.per.msg")[0]
            if tp is not None and rp:
                lines[-1] += f" {part.capitalize()}: Tandem {tp / rp:.1f}x raw1's CPU per message."
    else:
        lines.append("Ceiling: n/a (the total CPU per message of Tandem or raw1 is not in these results).")
    lines.append("")
    return lines


ANATOMY = "StorePutAnatomyBenchmark"   # helper b's class (session 8): a RocksDB put's cost, split
# the row the others are divided by: the raw default put (b's name; the generic rule's name second)
ANATOMY_BASES = ("rawPut", "rawPutDefault")
# what each of b's rows is (/work/notes/s8-b.md); a method not named here is printed without one
ANATOMY_ROWS = {
    "rawPut": "raw put, default options, counting-up 16-char keys, 96 B (= `StoreBenchmark.rocksPut`)",
    "rawPutShardKeys": "raw put, the store's key layout (shard prefix), default options",
    "rawPutPair": "two puts per op of the encoded claim and completed records (138 / 159 B) into a TTL "
                  "bucket of a database opened with the store's own options",
    "rawPutPairNoHint": "`rawPutPair` without the per-shard insert position (the store before session 8)",
    "rawGetPutPair": "`rawPutPair` plus the read proving the id new: all of claim+complete's RocksDB work",
    "rawBatchPutPair": "`rawPutPair` with each put as a one-entry `WriteBatch`",
    "tandemClaim": "`IdempotencyStore` claim of a fresh id",
    "tandemComplete": "`IdempotencyStore` complete of a claimed id (the claim in an untimed set-up)",
    "tandemClaimComplete": "`IdempotencyStore` claim + complete (= `StoreBenchmark.tandemClaimComplete`)",
}
# (numerator, denominator, what the ratio says), printed when both rows are present
ANATOMY_RATIOS = (
    ("tandemClaimComplete", "rawGetPutPair", "Tandem's Java (locks, rules, encoding, caches, metrics) over its RocksDB work"),
    ("rawPutShardKeys", "rawPut", "raw put: the store's key order over counting-up keys"),
    ("rawPutPair", "rawPutPairNoHint", "the per-shard insert position (session 8's change)"),
    ("rawBatchPutPair", "rawPutPair", "a one-entry WriteBatch instead of a put"),
)


def anatomy_section(rows, get, score):
    """The "put anatomy" tables (markdown lines; empty when no StorePutAnatomyBenchmark result is given).

    rows: (class, method, threads, params) -> (path, result); get/score: main's accessors (get marks
    a row as used, so the quiet check covers it). One table per thread count and parameter set: every
    method of the class with its ops/s and error and its ratio to the raw default put's ops/s (the
    first of ANATOMY_BASES present; n/a without one), then the ANATOMY_RATIOS whose rows are present.
    """
    groups = {}
    for k in rows:
        if k[0] == ANATOMY:
            groups.setdefault((k[2], k[3]), []).append(k[1])
    if not groups:
        return []
    lines = [f"### Put anatomy (`{ANATOMY}`)", "",
             "What a Tandem claim+complete's RocksDB puts cost, split into rows (ops/s; an operation of a "
             "`Pair` row or of claim+complete is two puts; the ratio is the row's ops/s over the raw default "
             "put's, below 1 = slower than it).", ""]
    for (t, params), methods in sorted(groups.items()):
        base_name = next((b for b in ANATOMY_BASES if b in methods), None)
        shown = ", ".join(f"{p}={v}" for p, v in params)
        if len(groups) > 1 or shown:
            lines.append(f"t={t}{', ' + shown if shown else ''}:")
            lines.append("")
        lines.append(f"| row | what | ops/s | / {'`' + base_name + '`' if base_name else 'raw default put'} |")
        lines.append("|---|---|---|---|")
        base = score(get(ANATOMY, base_name, t, **dict(params))) if base_name else (None, None)
        # the base first, then the others in the order JMH ran them (alphabetical)
        for m in sorted(methods, key=lambda m: (m != base_name, m)):
            v = score(get(ANATOMY, m, t, **dict(params)))
            r = fmt(*ratio_of(v[0], v[1], base[0], base[1])) if base[0] and v[0] is not None else "n/a"
            lines.append(f"| `{m}` | {ANATOMY_ROWS.get(m, '')} | {fmt(*v, 0)} | {r} |")
        lines.append("")
        derived = []
        for num, den, what in ANATOMY_RATIOS:
            if num in methods and den in methods:
                a = score(get(ANATOMY, num, t, **dict(params)))
                b = score(get(ANATOMY, den, t, **dict(params)))
                if a[0] is not None and b[0]:
                    derived.append(f"| `{num}` / `{den}` | {what} | {fmt(*ratio_of(a[0], a[1], b[0], b[1]))} |")
        if derived:
            lines += ["| ratio | what it says | measured |", "|---|---|---|"] + derived + [""]
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--write", metavar="README")
    ap.add_argument("--max-load-per-core", type=float, default=MAX_LOAD_PER_CORE,
                    help="load average before the run, per core")
    ap.add_argument("--max-outside-per-core", type=float, default=MAX_OUTSIDE_PER_CORE,
                    help="CPU share of processes outside the run, per iteration")
    args = ap.parse_args(argv)



    rows, mains, used = {}, {}, set()
    # A run with the follower's stage stamps on (run.sh: TANDEM_BENCH_SPLIT=1, a file named
    # *-e2e-split.json) gives the split table only: the stamps add latency to the very p99s they split
    # (session 9's A/B: ~+10 ms to follower and replication p99), so no goal row is read from it.
    split_ol = None
    for path in args.files:
        data = json.load(open(path))
        if isinstance(data, dict):
            mains[data.get("benchmark", os.path.basename(path))] = (path, data)
            continue
        if path.endswith("-e2e-split.json"):
            for r in data:
                if (r["benchmark"].endswith("EndToEndBenchmark.openLoop")
                        and r.get("params", {}).get("pipeline") == "tandem"):
                    split_ol = r
            continue
        for r in data:
            name = r["benchmark"].rsplit(".", 2)
            key = (name[-2], name[-1], r["threads"], tuple(sorted(r.get("params", {}).items())))
            rows[key] = (path, r)


    def get(cls, m, t, **params):
        k = (cls, m, t, tuple(sorted((p, str(v)) for p, v in params.items())))
        if k in rows:
            used.add(k)
            return rows[k][1]
        return None


    def score(r):
        if r is None:
            return None, None
        pm = r["primaryMetric"]
        e = pm.get("scoreError")
        return pm["score"], (None if e is None or isinstance(e, str) or math.isnan(e) else e)


    out = []


    def ratio(label, num, den, target, higher=True):
        """target None: a row without a goal."""
        (a, ea), (b, eb) = num, den
        goal = "-" if target is None else f"{'>=' if higher else '<='} {target}"
        if a is None or b is None:
            out.append(f"| {label} | n/a (not in these results) | | {goal} | - |")
            return
        v, e = ratio_of(a, ea, b, eb)
        ok = "-" if target is None else ("met" if (v >= target if higher else v <= target) else "MISSED")
        out.append(f"| {label} | {fmt(v, e)} | {fmt(a, ea, 0)} / {fmt(b, eb, 0)} | {goal} | {ok} |")


    def p99_by_fork(r):
        """p99 of a SampleTime result per fork (from rawDataHistogram), for its range."""
        if r is None:
            return []
        hist = r["primaryMetric"].get("rawDataHistogram") or []
        res = []
        for fork in hist:
            pairs = sorted((v, c) for it in fork for v, c in it)
            total = sum(c for _, c in pairs)
            need, acc = math.ceil(0.99 * total), 0
            for v, c in pairs:
                acc += c
                if acc >= need:
                    res.append(v)
                    break
        return res


    # ---------------------------------------------------------------- end to end
    out.append("### End to end (`EndToEndBenchmark`)")
    out.append("")
    out.append("| pipeline | records/s at saturation | e2e p50 (ms) | e2e p99 (ms) | at rate (records/s) |")
    out.append("|---|---|---|---|---|")
    e2e = {}
    for p, label in E2E_PIPELINES:
        rate = next((dict(k[3])["rate"] for k in rows if k[0] == "EndToEndBenchmark" and dict(k[3]).get("pipeline") == p), "1000")
        sat = get("EndToEndBenchmark", "saturation", 1, pipeline=p, rate=rate)
        ol = get("EndToEndBenchmark", "openLoop", 1, pipeline=p, rate=rate)
        e2e[p] = (sat, ol)
        out.append(f"| {label} | {fmt(*score(sat), 0)} | {fmt(*secondary(ol, 'e2e.p50'))} | {fmt(*secondary(ol, 'e2e.p99'))} | {fmt(*score(ol), 0)} |")
    out.append("")
    out.append("| ratio | measured | from | target | |")
    out.append("|---|---|---|---|---|")
    ratio("Tandem / raw single-region throughput", score(e2e["tandem"][0]), score(e2e["raw1"][0]), E2E_GOAL)
    ratio("Tandem / raw two-region throughput", score(e2e["tandem"][0]), score(e2e["raw2"][0]), None)
    fol, rep = secondary(e2e["tandem"][1], "follower.p99"), secondary(e2e["tandem"][1], "replication.p99")
    if fol[0] is not None and rep[0] is not None:
        ok = fol[0] <= rep[0] + 10
        out.append(f"| follower added latency p99 vs replication lag p99 + 10 ms | {fmt(*fol)} ms | replication p99 {fmt(*rep)} ms | <= {fmt(rep[0] + 10)} | {'met' if ok else 'MISSED'} |")
        out.append(f"| follower added latency p50 (no target) | {fmt(*secondary(e2e['tandem'][1], 'follower.p50'))} ms | replication p50 {fmt(*secondary(e2e['tandem'][1], 'replication.p50'))} ms | - | - |")
    else:
        out.append("| follower added latency p99 vs replication lag p99 + 10 ms | n/a (not in these results) | | | - |")
    out.append("")

    if split_ol is not None:
        out.append("The split below comes from a separate run with the stage stamps on (a `*-e2e-split.json` "
                   "file): they add latency to the p99s they split, so the rows above come from a run without them.")
        out.append("")
    out.extend(split_section(split_ol if split_ol is not None else e2e["tandem"][1]))
    out.extend(cpu_section(e2e))

    counts = []
    for mode, r in (("saturation", e2e["tandem"][0]), ("open loop", e2e["tandem"][1])):
        sm = (r or {}).get("secondaryMetrics") or {}
        cs = {k[len("count."):]: v["score"] for k, v in sm.items() if k.startswith("count.")}
        if cs:
            counts.append(f"{mode}: " + ", ".join(f"{k} {v:,.3g}" for k, v in cs.items()))
            if any(v < 0 for v in cs.values()):  # a count cannot fall: a measurement bug (fixed in session 7)
                counts[-1] += " (NEGATIVE COUNTS: a measurement bug, see MeterTotals)"
    if counts:
        out.append("Tandem's work per message handled (counts from the regions' meters and the consumers' "
                   "interceptor, averaged over iterations; see `EndToEndLatencyProfiler.perMessage`): "
                   + "; ".join(counts) + ".")
        out.append("")

    # ---------------------------------------------------------------- store
    out.append("### Ratios")
    out.append("")
    out.append("| ratio | measured | from | target | |")
    out.append("|---|---|---|---|---|")
    for t in (1, 2):
        # the id lengths measured (the quiet profile runs 16 only since session 6)
        lengths = sorted({int(dict(k[3]).get("idLength", 0)) for k in rows if k[0] == "StoreBenchmark"}) or [16]
        for L in lengths:
            s = lambda m: score(get("StoreBenchmark", m, t, idLength=L))
            ratio(f"claim+complete / RocksDB put (t={t}, id={L})", s("tandemClaimComplete"), s("rocksPut"), 0.5)
            ratio(f"check hit / ConcurrentHashMap.get (t={t}, id={L})", s("tandemCheckHit"), s("chmGet"), 0.3)
            if s("tandemCheckHitParsedId")[0] is not None:
                # the same check with the looked-up id decoded from bytes (equal, not the stored object),
                # as every consumer has it: the map must compare characters, not find its key by identity
                ratio(f"check hit / ConcurrentHashMap.get, id decoded per look-up (t={t}, id={L})", s("tandemCheckHitParsedId"), s("chmGetParsedId"), 0.3)
            redis = score(get("RedisBenchmark", "redisSetNx", t, idLength=L))
            if redis[0] is not None:
                ratio(f"claim+complete / Redis SET NX PX (t={t}, id={L})", s("tandemClaimComplete"), redis, 10)
            camel = score(get("CamelKafkaBenchmark", "camelKafkaAdd", t, idLength=L))
            if camel[0] is not None:
                ratio(f"claim+complete / Camel KafkaIdempotentRepository.add (t={t}, id={L})", s("tandemClaimComplete"), camel, None)

    # ---------------------------------------------------------------- publisher
    for V in (100, 1024):
        p = lambda m: get("PublisherBenchmark", m, 1, valueBytes=V)
        for tandem, label in (("tandem", "ANY (default)"), ("tandemAll", "ALL")):
            ratio(f"dual publish {label} / hand fan-out with a UUID id header ({V} B)", score(p(tandem + "Batch")), score(p("fanOutIdBatch")), 0.9)
            ratio(f"dual publish {label} / bare hand fan-out, no header ({V} B)", score(p(tandem + "Batch")), score(p("fanOutBatch")), None)
            ratio(f"dual publish {label} / naive sequential ({V} B)", score(p(tandem + "Batch")), score(p("naiveBatch")), 1.5)
        ratio(f"envelope fan-out / UUID-header fan-out ({V} B; what the envelope costs over an id)", score(p("fanOutEnvelopeBatch")), score(p("fanOutIdBatch")), None)
        a, b, t_ = p("singleLatencyA"), p("singleLatencyB"), p("tandemLatency")
        if a is not None and b is not None and t_ is not None:
            pa, pb, pt = (r["primaryMetric"]["scorePercentiles"]["99.0"] for r in (a, b, t_))
            slower = max(pa, pb)
            forks = p99_by_fork(t_)
            rng = f" (forks {min(forks):,.0f}-{max(forks):,.0f})" if len(forks) > 1 else ""
            v = pt / slower
            out.append(f"| p99 dual publish ANY / slower region's raw p99 ({V} B) | {v:.2f} | {pt:,.0f}{rng} / {slower:,.0f} {t_['primaryMetric']['scoreUnit']} | <= 1.2 | {'met' if v <= 1.2 else 'MISSED'} |")

    # ---------------------------------------------------------------- consumer
    raw, icp = score(get("ConsumerBenchmark", "rawPoll", 1)), score(get("ConsumerBenchmark", "interceptorPoll", 1))
    if raw[0] and icp[0]:
        v, e = ratio_of(icp[0], icp[1], raw[0], raw[1])
        out.append(f"| interceptor overhead (1 - interceptor/raw) | {1 - v:.1%}{'' if e is None else f' ± {e:.1%}'} | {fmt(*icp, 0)} / {fmt(*raw, 0)} rec/s | <= 10% | {'met' if 1 - v <= 0.10 else 'MISSED'} |")
    out.append("")
    for name, (path, d) in sorted(mains.items()):
        if name == "ReplicationLagMain":
            out.append(f"Replication lag region-a -> region-b at {d['rate']}/s (achieved {d['achievedRate']}/s, {d['records']} records; one run, no error bar): "
                       f"p50 {d['p50Ms']:.1f} ms, p99 {d['p99Ms']:.1f} ms, p99.9 {d['p999Ms']:.1f} ms, max {d['maxMs']:.1f} ms.")

    out.extend(anatomy_section(rows, get, score))

    used_results = [(f"{k[0]}.{k[1]} t={k[2]} {dict(k[3])}", rows[k][0], rows[k][1]) for k in sorted(used)]
    used_mains = [(name, path, d) for name, (path, d) in sorted(mains.items())]
    out.append("")
    out.append(quiet_line(used_results, used_mains))
    problems = discipline_problems(used_results, used_mains, args.max_load_per_core, args.max_outside_per_core)
    text = "\n".join(out)
    if problems:
        print("**NOT PUBLISHABLE** (see the reasons on stderr): noise or no error bars.\n")
    print(text)
    if problems:
        print("\nNOT PUBLISHABLE (these figures are noise or lack error bars):", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
    if args.write:
        if problems:
            print(f"refusing to write {args.write}", file=sys.stderr)
            sys.exit(1)
        begin, end = "<!-- ratios.py:begin -->", "<!-- ratios.py:end -->"
        readme = open(args.write).read()
        if begin not in readme or end not in readme:
            sys.exit(f"{args.write} has no {begin} ... {end} section")
        files = ", ".join(sorted("`results/" + os.path.basename(f) + "`" for f in args.files))
        gen = (f"{begin}\n<!-- generated: python3 benchmarks/ratios.py --write benchmarks/README.md "
               f"{' '.join('benchmarks/results/' + os.path.basename(f) for f in sorted(args.files))}; do not edit -->\n"
               f"Raw JSON: {files}. Errors: JMH 99.9 % confidence half-widths, propagated.\n\n{text}\n{end}")
        readme = readme[:readme.index(begin)] + gen + readme[readme.index(end) + len(end):]
        open(args.write, "w").write(readme)
        print(f"wrote {args.write}", file=sys.stderr)


if __name__ == "__main__":
    main()
