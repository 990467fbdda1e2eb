#!/usr/bin/env python3
"""Summarises a JFR recording as text (what the committed profiles are).

   python3 benchmarks/profiles/jfr-summary.py <recording.jfr> [thread-name-regex] > cpu.txt
   python3 benchmarks/profiles/jfr-summary.py --waits <recording.jfr> [thread-name-regex] > waits.txt
   python3 benchmarks/profiles/jfr-summary.py --alloc <recording.jfr> [thread-name-regex] > alloc.txt

Runs `jfr print --json` (the JDK's jfr tool) and prints, over the events of the threads matching the
regex (default: all):
  * default: jdk.ExecutionSample (CPU): the top frames by self samples, and by inclusive samples (a
    method counted once per stack it appears in), plus a "collapsed stacks" section usable by
    flamegraph.pl / speedscope (one line per distinct stack: frames root-first separated by ';', count);
  * --waits: where threads WAIT (JDK 17's JFR has no wall-clock sampler; these events are the waits
    above the recording's thresholds, run.sh's e2e profile sets 1 ms): jdk.ThreadPark,
    jdk.JavaMonitorEnter, jdk.JavaMonitorWait, jdk.SocketRead, jdk.SocketWrite, jdk.ThreadSleep -
    total milliseconds and count per thread and per waiting frame (the first frame outside the JDK),
    and collapsed stacks weighted by milliseconds;
  * --alloc: jdk.ObjectAllocationSample weighted by its sampled bytes, per allocating frame and class.
"""
import collections, json, re, subprocess, sys

args = sys.argv[1:]
mode = "cpu"
if args and args[0] in ("--waits", "--alloc"):
    mode = args.pop(0)[2:]
path = args[0]
thread_re = re.compile(args[1]) if len(args) > 1 else None
kinds = {"cpu": ["jdk.ExecutionSample"],
         "waits": ["jdk.ThreadPark", "jdk.JavaMonitorEnter", "jdk.JavaMonitorWait", "jdk.SocketRead",
                   "jdk.SocketWrite", "jdk.ThreadSleep"],
         "alloc": ["jdk.ObjectAllocationSample"]}[mode]
raw = subprocess.run(["jfr", "print", "--json", "--stack-depth", "64", "--events", ",".join(kinds), path],
                     check=True, capture_output=True, text=True).stdout
events = json.loads(raw)["recording"]["events"]
JDK = ("java.", "javax.", "jdk.", "sun.", "com.sun.")


def duration_ms(v):
    """JFR's JSON duration, e.g. 'PT0.012345S' or a number of nanoseconds."""
    d = v.get("duration")
    if isinstance(d, (int, float)):
        return d / 1e6
    m = re.match(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?", d or "")
    if not m:
        return 0.0
    h, mi, s = m.groups()
    return ((int(h or 0) * 60 + int(mi or 0)) * 60 + float(s or 0)) * 1000


def weight(e, v):
    if mode == "waits":
        return duration_ms(v)
    if mode == "alloc":
        return float(v.get("weight") or 0)
    return 1


selfc, incl, stacks, threads, kinds_seen = (collections.Counter() for _ in range(5))
counts = collections.Counter()
n, total = 0, 0.0
for e in events:
    v = e["values"]
    th = v.get("sampledThread") or v.get("eventThread") or {}
    t = th.get("javaName") or th.get("osName") or "?"
    if thread_re and not thread_re.search(t):
        continue
    frames = [f"{f['method']['type']['name']}.{f['method']['name']}" for f in (v.get("stackTrace") or {}).get("frames", [])]
    if not frames:
        continue
    w = weight(e, v)
    n += 1
    total += w
    threads[t] += w
    kinds_seen[e["type"]] += w
    top = frames[0]
    if mode == "waits":
        top = next((f for f in frames if not f.replace("/", ".").startswith(JDK)), frames[0])
    elif mode == "alloc":
        cls = ((v.get("objectClass") or {}).get("name")) or "?"
        top = f"{frames[0]} [{cls}]"
    selfc[top] += w
    counts[top] += 1
    for m in set(frames):
        incl[m] += w
    stacks[";".join(reversed(frames))] += w
unit = {"cpu": "samples", "waits": "ms waited", "alloc": "bytes (sampled weight)"}[mode]
print(f"# {path}: {n} events, {total:,.0f} {unit}" + (f" (threads matching {thread_re.pattern})" if thread_re else ""))
if n == 0:
    sys.exit(0)
fmt = lambda c: f"{c:12,.0f} {c / total:6.1%}"
if mode != "cpu":
    print("\n## event types"); [print(f"{fmt(c)}  {k}") for k, c in kinds_seen.most_common()]
print("\n## threads"); [print(f"{fmt(c)}  {t}") for t, c in threads.most_common(15)]
label = {"cpu": "self (top frame)", "waits": "waiting frame (first outside the JDK)", "alloc": "allocating frame [class]"}[mode]
print(f"\n## {label}"); [print(f"{fmt(c)}  {m}" + (f"  ({counts[m]} events)" if mode == "waits" else "")) for m, c in selfc.most_common(30)]
print("\n## inclusive"); [print(f"{fmt(c)}  {m}") for m, c in incl.most_common(45)]
print("\n## collapsed stacks")
for s, c in stacks.most_common():
    print(f"{s} {c:.0f}")
