#!/usr/bin/env bash
# Runs Tandem's JMH benchmarks side by side with their peers.
#   benchmarks/run.sh            quick profile (<10 min on 2 cores): 1 fork, short iterations
#   benchmarks/run.sh full       the full profile (the annotations' settings)
#   benchmarks/run.sh smoke      each benchmark once with tiny iterations (CI, so none rots)
#   benchmarks/run.sh quick Store   a regex of benchmarks to run (JMH's own syntax)
# Extra JMH flags may follow after "--". Results go to benchmarks/results/<profile>-<date>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-quick}"; shift || true
filter="${1:-.}"; shift || true
[ "${1:-}" = "--" ] && shift

jar=benchmarks/target/benchmarks.jar
if [ ! -f "$jar" ]; then
  mvn -B -q install -DskipTests
fi

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
  trap '[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true' EXIT
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
  smoke) flags=(-f 1 -wi 0 -i 1 -r 200ms -foe true -p idLength=16 -p valueBytes=100 -p payloadBytes=1024) ;;
  # quick: < 10 min on 2 cores; 1 warm-up + 2 measured iterations of 1 s per fork
  quick) flags=(-f 1 -wi 1 -w 1s -i 2 -r 1s -foe true) ;;
  full)  flags=(-foe true) ;;
  *) echo "unknown profile $profile (smoke|quick|full)"; exit 2 ;;
esac
# Kafka clients and brokers log at WARN, so JMH's own output stays readable.
export JAVA_TOOL_OPTIONS="${JAVA_TOOL_OPTIONS:-} -Dorg.slf4j.simpleLogger.defaultLogLevel=warn"
out="benchmarks/results/${profile}-${stamp}-t1.json"
java -jar "$jar" "$filter" "${excludes[@]}" "${flags[@]}" -t 1 -rf json -rff "$out" "$@"
echo "results: $out"
if [ "$profile" != smoke ]; then
  # the store and its peers again with two threads (the publisher/consumer benchmarks own their threads)
  out="benchmarks/results/${profile}-${stamp}-t2.json"
  java -jar "$jar" "$filter" -e 'PublisherBenchmark|ConsumerBenchmark|DigestBenchmark' "${excludes[@]}" \
    "${flags[@]}" -t 2 -rf json -rff "$out" "$@"
  echo "results: $out"
fi
