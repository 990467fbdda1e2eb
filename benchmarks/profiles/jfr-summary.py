#!/usr/bin/env python3
"""Summarises the execution samples of a JFR recording as text (what the committed profiles are).

   python3 benchmarks/profiles/jfr-summary.py <recording.jfr> [thread-name-regex] > summary.txt

Runs `jfr print --json --events jdk.ExecutionSample` (the JDK's jfr tool) and prints, over the samples
of the threads matching the regex (default: all): the top frames by self samples, and by inclusive
samples (a method counted once per stack it appears in), plus a "collapsed stacks" section usable
by flamegraph.pl / speedscope (one line per distinct stack: frames root-first separated by ';', count).
"""
import collections, json, re, subprocess, sys

path = sys.argv[1]
thread_re = re.compile(sys.argv[2]) if len(sys.argv) > 2 else None
raw = subprocess.run(["jfr", "print", "--json", "--stack-depth", "64", "--events", "jdk.ExecutionSample", path],
                     check=True, capture_output=True, text=True).stdout
events = json.loads(raw)["recording"]["events"]
selfc, incl, stacks, threads = collections.Counter(), collections.Counter(), collections.Counter(), collections.Counter()
n = 0
for e in events:
    v = e["values"]
    t = (v.get("sampledThread") or {}).get("javaName") or "?"
    if thread_re and not thread_re.search(t):
        continue
    frames = [f"{f['method']['type']['name']}.{f['method']['name']}" for f in (v.get("stackTrace") or {}).get("frames", [])]
    if not frames:
        continue
    n += 1
    threads[t] += 1
    selfc[frames[0]] += 1
    for m in set(frames):
        incl[m] += 1
    stacks[";".join(reversed(frames))] += 1
print(f"# {path}: {n} execution samples" + (f" (threads matching {thread_re.pattern})" if thread_re else ""))
print("\n## threads"); [print(f"{c:6d} {c / n:6.1%}  {t}") for t, c in threads.most_common(10)]
print("\n## self (top frame)"); [print(f"{c:6d} {c / n:6.1%}  {m}") for m, c in selfc.most_common(30)]
print("\n## inclusive"); [print(f"{c:6d} {c / n:6.1%}  {m}") for m, c in incl.most_common(45)]
print("\n## collapsed stacks")
for s, c in stacks.most_common():
    print(f"{s} {c}")
