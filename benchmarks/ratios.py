#!/usr/bin/env python3
"""Prints the issue's target ratios from JMH JSON result files (one run: pass its -t1/-t2 files).

   python3 benchmarks/ratios.py benchmarks/results/quick-<stamp>-t1.json benchmarks/results/quick-<stamp>-t2.json
"""
import json, sys

rows = {}
for path in sys.argv[1:]:
    for r in json.load(open(path)):
        name = r["benchmark"].rsplit(".", 2)
        key = (name[-2], name[-1], r["threads"], tuple(sorted(r.get("params", {}).items())))
        rows[key] = r["primaryMetric"]

def get(cls, m, t, **params):
    return rows.get((cls, m, t, tuple(sorted((k, str(v)) for k, v in params.items()))))

def ratio(label, num, den, target, higher=True):
    if num is None or den is None:
        print(f"| {label} | n/a (not in these results) | {target} | - |")
        return
    v = num / den
    ok = v >= target if higher else v <= target
    print(f"| {label} | {v:.2f} ({num:,.0f} / {den:,.0f}) | {'>=' if higher else '<='} {target} | {'met' if ok else 'MISSED'} |")

print("| ratio | measured | target | |")
print("|---|---|---|---|")
for t in (1, 2):
    for L in (16, 36):
        s = lambda m: (get("StoreBenchmark", m, t, idLength=L) or {}).get("score")
        ratio(f"claim+complete / RocksDB put (t={t}, id={L})", s("tandemClaimComplete"), s("rocksPut"), 0.5)
        redis = (get("RedisBenchmark", "redisSetNx", t, idLength=L) or {}).get("score")
        ratio(f"claim+complete / Redis SET NX PX (t={t}, id={L})", s("tandemClaimComplete"), redis, 10)
        camel = (get("CamelKafkaBenchmark", "camelKafkaAdd", t, idLength=L) or {}).get("score")
        ratio(f"claim+complete / Camel KafkaIdempotentRepository.add (t={t}, id={L}; no target)", s("tandemClaimComplete"), camel, 1)
        ratio(f"check hit / CHM.get (t={t}, id={L})", s("tandemCheckHit"), s("chmGet"), 0.3)
for V in (100, 1024):
    p = lambda m: (get("PublisherBenchmark", m, 1, valueBytes=V) or {})
    for tandem, label in (("tandem", "ANY (default)"), ("tandemAll", "ALL")):
        ratio(f"dual publish {label} / hand fan-out ({V} B)", p(tandem + "Batch").get("score"), p("fanOutBatch").get("score"), 0.9)
        ratio(f"dual publish {label} / naive sequential ({V} B)", p(tandem + "Batch").get("score"), p("naiveBatch").get("score"), 1.5)
        p99 = lambda m: (p(m).get("scorePercentiles") or {}).get("99.0")
        a, b = p99("singleLatencyA"), p99("singleLatencyB")
        slower = max(a, b) if a is not None and b is not None else None
        ratio(f"p99 dual publish {label} / slower region's raw p99 ({V} B)", p99(tandem + "Latency"), slower, 1.2, higher=False)
c = lambda m: (get("ConsumerBenchmark", m, 1) or {}).get("score")
if c("rawPoll") and c("interceptorPoll"):
    print(f"| interceptor overhead (1 - interceptor/raw) | {1 - c('interceptorPoll') / c('rawPoll'):.1%} ({c('interceptorPoll'):,.0f} / {c('rawPoll'):,.0f} rec/s) | <= 10% | {'met' if 1 - c('interceptorPoll') / c('rawPoll') <= 0.10 else 'MISSED'} |")
if c("rawPoll") and c("handlerWrapper"):
    print(f"| full handler wrapper / raw poll (no target) | {c('handlerWrapper') / c('rawPoll'):.2f} ({c('handlerWrapper'):,.0f} / {c('rawPoll'):,.0f} rec/s) | - | - |")
