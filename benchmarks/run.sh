#!/usr/bin/env bash
# Runs Tandem's JMH benchmarks side by side with their peers.
#   benchmarks/run.sh quiet      THE profile for published figures: 2 forks of every benchmark a README
#                                row uses, error bars, plus one JFR-profiled fork of the end-to-end Tandem
#                                pipeline (benchmarks/profiles/); ~15.5 min on 2 cores (see README). Run it
#                                only on a quiet machine (no build, test, other benchmark); ratios.py
#                                refuses to write tables when load came from outside the run (below).
#   benchmarks/run.sh            quick profile (<12 min on 2 cores): 1 fork, short iterations (no error bars)
#   benchmarks/run.sh full       the full profile (the annotations' settings)
#   benchmarks/run.sh smoke      each benchmark once with tiny iterations (CI, so none rots)
#   benchmarks/run.sh quick Store   a regex of benchmarks to run (JMH's own syntax; not with quiet)
# Extra JMH flags may follow after "--". Results go to benchmarks/results/<profile>-<date>-*.json.
# Every JMH fork records whether the machine was quiet (LoadProfiler, secondary results in the JSON):
# outside.cpu, the CPU of processes outside this script's process tree per iteration, and
# load.beforeRun, the load average this script read before it started anything (exported below);
# EndToEndBenchmark's latencies, counts and CPU per message (brokers = the regions JVM, whose pid is
# exported as TANDEM_BENCH_REGIONS_PID; clients = the fork) land there too (EndToEndLatencyProfiler). Then: python3 benchmarks/ratios.py benchmarks/results/<profile>-<date>-*.json
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-quick}"; shift || true
filter="${1:-.}"; shift || true
[ "${1:-}" = "--" ] && shift
# The run is this shell's process tree (regions JVM, Redis, JMH host and forks, the mains): LoadProfiler
# and ReplicationLagMain count every other process's CPU as outside load. The load average is read
# now, before any of the run exists, so all of it is outside load.
export TANDEM_BENCH_RUN_PID=$$
TANDEM_BENCH_LOAD_BEFORE_RUN=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "")
export TANDEM_BENCH_LOAD_BEFORE_RUN
echo "load before the run: ${TANDEM_BENCH_LOAD_BEFORE_RUN:-n/a} (ratios.py refuses above 1.5 per core)"

jar=benchmarks/target/benchmarks.jar
if [ ! -f "$jar" ]; then
  # package in the reactor (nothing installed into ~/.m2)
  mvn -B -q -pl benchmarks -am package -DskipTests
fi
profilers=(-prof dev.tandem.benchmarks.LoadProfiler -prof dev.tandem.benchmarks.EndToEndLatencyProfiler)

# Redis, the peer most teams would pick: Debian's redis-server on loopback, a throwaway port.
redis_pid=""
excludes=()
port="${TANDEM_REDIS_PORT:-6391}"
if ! command -v redis-server >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq redis-server) >/dev/null 2>&1 || true
fi
if command -v redis-server >/dev/null 2>&1; then
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null 2>&1 &
  redis_pid=$!
  export TANDEM_REDIS_PORT="$port"
  excludes=()
else
  echo "SKIPPED RedisBenchmark: redis-server is not installed and could not be installed"
  excludes=(-e RedisBenchmark)
fi

mkdir -p benchmarks/results
stamp=$(date -u +%Y-%m-%dT%H%M)
case "$profile" in
  # smoke: every benchmark once, one parameter value each, so none rots (CI)
  smoke) flags=(-f 1 -wi 0 -i 1 -r 200ms -foe true -p idLength=16 -p valueBytes=100 -p payloadBytes=1024
               -p pipeline=tandem,raw2) ;;  # raw2 runs raw1's loop in both regions
  # quick: < 10 min on 2 cores; 1 warm-up + 2 measured iterations of 1 s per fork
  quick) flags=(-f 1 -wi 1 -w 1s -i 2 -r 1s -foe true) ;;
  full)  flags=(-foe true) ;;
  # quiet: per group of benchmarks below (2 forks each)
  quiet) flags=() ;;
  *) echo "unknown profile $profile (quiet|smoke|quick|full)"; exit 2 ;;
esac
# The two Kafka regions, once for the whole run, in a JVM of their own (RegionsMain): the brokers'
# CPU is not counted as the benchmarks' own, and no JMH fork pays a cluster start. Its standard input is
# held open on fd 3; closing it stops the regions.
quiet=-Dorg.slf4j.simpleLogger.defaultLogLevel=warn
regions_log=$(mktemp); regions_fifo=$(mktemp -u); mkfifo "$regions_fifo"
java -Xmx1g -XX:+UseSerialGC "$quiet" -cp "$jar" dev.tandem.testkit.RegionsMain region-a region-b \
  <"$regions_fifo" >"$regions_log" 2>&1 &
regions_pid=$!
exec 3>"$regions_fifo"
cleanup() {
  exec 3>&- || true
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true
  wait "$regions_pid" 2>/dev/null || true
  rm -f "$regions_fifo" "$regions_log"
}
trap cleanup EXIT
for _ in $(seq 1 240); do
  grep -q '^READY' "$regions_log" && break
  kill -0 "$regions_pid" 2>/dev/null || { echo "Kafka regions did not start:"; cat "$regions_log"; exit 1; }
  sleep 0.5
done
grep -q '^READY' "$regions_log" || { echo "Kafka regions not ready in 120 s:"; cat "$regions_log"; exit 1; }
export TANDEM_BENCH_REGION_A=$(awk '$1=="REGION" && $2=="region-a" {print $3}' "$regions_log")
export TANDEM_BENCH_REGION_B=$(awk '$1=="REGION" && $2=="region-b" {print $3}' "$regions_log")
# EndToEndBenchmark reads the regions JVM's CPU (the brokers' side of cpu.*.us.per.msg, ProcessCpu)
# from /proc/<pid>/stat: $! is the java process itself (bash execs it in the forked child).
export TANDEM_BENCH_REGIONS_PID=$regions_pid
TANDEM_BENCH_CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
export TANDEM_BENCH_CLK_TCK
regions_cmd=$(tr '\0' ' ' <"/proc/$regions_pid/cmdline" 2>/dev/null || true)
case "$regions_cmd" in
  *RegionsMain*) ;;
  *) echo "WARNING: pid $regions_pid is not the regions JVM ($regions_cmd): cpu.brokers.us.per.msg will be wrong" >&2 ;;
esac
echo "Kafka regions (pid $regions_pid, exported as TANDEM_BENCH_REGIONS_PID; CLK_TCK $TANDEM_BENCH_CLK_TCK):" \
  "region-a $TANDEM_BENCH_REGION_A, region-b $TANDEM_BENCH_REGION_B"
started=$(date +%s)
jmh() { # jmh <out-suffix> <jmh args...>
  local out="benchmarks/results/${profile}-${stamp}-$1.json"; shift
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)"
  java -jar "$jar" "$@" "${profilers[@]}" -rf json -rff "$out"
  echo "results: $out (load after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a))"
}
if [ "$profile" = quiet ]; then
  # Only what a README row uses, each group with the settings it needs, 2 forks for error bars.
  # Estimated on 2 cores (fork count x (JVM start + setup + iterations)); run.sh prints the total.
  # Ids of 16 characters only (the store and Redis rows at 36 were cut in session 6 to make room for
  # the end-to-end profile: no goal depends on the id length), and no Redis with 2 threads.
  q_store=(-f 2 -wi 2 -w 1s -i 3 -r 1s -foe true -p idLength=16)
  q_kafka=(-f 2 -wi 3 -w 2s -i 3 -r 1s -foe true)   # publisher: its long path needs 3 x 2 s of JIT warm-up
  # the interceptor row: one warm consumer per fork (its set-up reads the topic once, untimed), ~10
  # reads of the topic per 1 s iteration; 6 measured iterations per fork (12 samples per row: JMH's
  # 99.9 % t quantile 4.4 instead of 6.9 with 6), 8 s of iterations per fork (was 10)
  q_consumer=(-f 2 -wi 2 -w 1s -i 6 -r 1s -foe true)
  # end to end: 4 x 2 s of warm-up (was 2): in the 1053 run both forks' first measured iteration of
  # the Tandem saturation row was the lowest (4,785 / 4,740 vs 5,519-6,935 records/s after it) and its
  # CPU per message the highest (436 / 416 vs 293-358 us): the JIT was still compiling 4 s in. The
  # iterations from 6 s on were warm, so the measured ones now start at 8 s.
  q_e2e=(-f 2 -wi 4 -w 2s -i 3 -r 2s -foe true)
  # Estimate (2 cores; per fork: JVM start + set-up + iterations; the 1053 run's groups took store 60 s,
  # Redis 11 s, store t=2 67 s, publisher 360 s, consumer 62 s, end to end 157 s, profiled fork 15 s,
  # mains and summaries ~37 s = 769 s): end to end +4 s x 12 forks = +48 s, consumer about the same
  # (2 s less iteration time, one untimed read more in its set-up), profiled fork +2 s, put anatomy
  # (StorePutAnatomyBenchmark, 9 methods in session 8) ~6.5 s per fork x 2 forks per method = ~117 s:
  # ~936 s, ~15.5 min. Lever if that is too long: q_e2e -wi 3 (-24 s; the 1053 data were warm from
  # 6 s on, so 8 s leaves one iteration of margin).
  store_re='StoreBenchmark\.(rocksPut|tandemClaimComplete|tandemCheckHit|chmGet|tandemCheckHitParsedId|chmGetParsedId)$'
  anatomy=$(java -jar "$jar" -l 2>/dev/null | grep -c 'StorePutAnatomyBenchmark' || true)
  est=$(( 769 + 48 + 2 + 13 * ${anatomy:-0} ))
  echo "estimated duration: ~${est} s (~$(( (est + 30) / 60 )) min)" \
    "(the 1053 run's 769 s plus this profile's changes; ${anatomy:-0} put-anatomy methods)"
  jmh t1-store "$store_re" "${excludes[@]}" "${q_store[@]}" -t 1 "$@"
  [ -z "$redis_pid" ] || jmh t1-redis 'RedisBenchmark' "${q_store[@]}" -t 1 "$@"
  jmh t2-store "$store_re" "${q_store[@]}" -t 2 "$@"
  # the put anatomy rows (StorePutAnatomyBenchmark: a RocksDB put's cost split, README "put anatomy";
  # ratios.py prints them when present), with the store rows' settings
  if [ "${anatomy:-0}" -gt 0 ]; then
    jmh t1-store-anatomy 'StorePutAnatomyBenchmark' "${q_store[@]}" -t 1 "$@"
  else
    echo "SKIPPED the put anatomy rows: no StorePutAnatomyBenchmark in $jar"
  fi
  jmh t1-publisher 'PublisherBenchmark\.(tandemBatch|tandemAllBatch|fanOutIdBatch|fanOutEnvelopeBatch|naiveBatch|tandemLatency|singleLatencyA|singleLatencyB)$' \
    "${q_kafka[@]}" -t 1 "$@"
  jmh t1-consumer 'ConsumerBenchmark\.(rawPoll|interceptorPoll)$' "${q_consumer[@]}" -t 1 "$@"
  jmh t1-e2e 'EndToEndBenchmark' "${q_e2e[@]}" -t 1 "$@"
  # the follower's stage split (README's split table) in a group of its own: its stamps add latency
  # to the p99s they split, so the rows above are measured without them (ratios.py reads only the
  # split from a *-e2e-split.json file)
  export TANDEM_BENCH_SPLIT=1
  jmh t1-e2e-split 'EndToEndBenchmark\.openLoop$' "${q_e2e[@]}" -p pipeline=tandem -t 1 "$@"
  unset TANDEM_BENCH_SPLIT
  # The profile issue 20 asks for: one extra fork of the Tandem pipeline at saturation with two JFR
  # recordings - JMH's (measured iterations only, 'profile' settings: CPU samples every 10 ms and
  # allocation samples) and a whole-fork one with every wait of 1 ms or more (park, monitor, socket,
  # sleep: where a message's path waits; JDK 17's JFR has no wall-clock sampler). One fork, so its
  # JSON goes next to the profile, not into results/ (ratios.py must never read a 1-fork row).
  prof="benchmarks/profiles/${profile}-${stamp}-e2e-tandem"
  mkdir -p "$prof"
  jfr configure --input profile --output "$prof/waits.jfc" \
    jdk.ThreadPark#threshold=1ms jdk.JavaMonitorEnter#threshold=1ms jdk.JavaMonitorWait#threshold=1ms \
    jdk.SocketRead#threshold=1ms jdk.SocketWrite#threshold=1ms jdk.ThreadSleep#threshold=1ms >/dev/null \
    || echo "jfr configure failed: the profiled fork records with the 'profile' settings only"
  # replaces the @Fork's jvmArgsAppend, so it repeats them (-Xmx1g, slf4j at warn)
  waits=(-jvmArgsAppend "-Xmx1g -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -XX:StartFlightRecording=settings=$prof/waits.jfc,filename=$prof/waits.jfr,dumponexit=true")
  [ -f "$prof/waits.jfc" ] || waits=()
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)"
  # 2 x 2 s of warm-up (was 1): fewer JIT compiler samples in the profiled iterations
  java -jar "$jar" 'EndToEndBenchmark\.saturation$' -p pipeline=tandem -f 1 -wi 2 -w 2s -i 2 -r 3s -foe true \
    -t 1 "${profilers[@]}" -prof "jfr:dir=$prof/jmh;configName=profile" \
    "${waits[@]}" -rf json -rff "$prof/result.json" "$@" \
    || echo "the profiled fork failed (the published groups above are complete)"
  cpu_jfr=$(find "$prof/jmh" -name '*.jfr' 2>/dev/null | head -1 || true)
  if [ -n "$cpu_jfr" ]; then
    python3 benchmarks/profiles/jfr-summary.py "$cpu_jfr" > "$prof/cpu.txt" || true
    python3 benchmarks/profiles/jfr-summary.py --alloc "$cpu_jfr" > "$prof/alloc.txt" || true
  fi
  [ -f "$prof/waits.jfr" ] && python3 benchmarks/profiles/jfr-summary.py --waits "$prof/waits.jfr" > "$prof/waits.txt" || true
  echo "profile: $prof/{cpu,alloc,waits}.txt (from $cpu_jfr and $prof/waits.jfr)"
else
  jmh t1 "$filter" "${excludes[@]}" "${flags[@]}" -t 1 "$@"
  if [ "$profile" != smoke ]; then
    # the store and its peers again with two threads (the publisher/consumer/end-to-end benchmarks own
    # their threads)
    jmh t2 "$filter" -e 'PublisherBenchmark|ConsumerBenchmark|DigestBenchmark|EndToEndBenchmark' \
      "${excludes[@]}" "${flags[@]}" -t 2 "$@"
  fi
fi
# Replication lag at a fixed load and the store's footprint: plain main classes (a distribution and a
# size, not JMH throughputs), only when no benchmark filter was given.
if [ "$filter" = . ]; then
  case "$profile" in
    smoke) lag=(100 2); foot=10000 ;;
    quick|quiet) lag=(500 10); foot=200000 ;;
    full)  lag=(1000 60); foot=1000000 ;;
  esac
  java "$quiet" -cp "$jar" dev.tandem.benchmarks.ReplicationLagMain "${lag[@]}" "benchmarks/results/${profile}-${stamp}-lag.json"
  java -Xmx2g "$quiet" -cp "$jar" dev.tandem.benchmarks.FootprintMain "$foot" "benchmarks/results/${profile}-${stamp}-footprint.json"
fi
echo "profile $profile took $(( $(date +%s) - started )) s (benchmarks; plus the regions' start)"
