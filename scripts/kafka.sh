#!/usr/bin/env bash
# A real, single-node Apache Kafka broker (KRaft) for tests, benchmarks and development.
#
#   scripts/kafka.sh fetch    resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its runtime
#                             dependencies from Maven Central into $KAFKA_HOME/libs (idempotent)
#   scripts/kafka.sh start    fetch, format KRaft storage under $KAFKA_DATA once, start the broker on
#                             127.0.0.1:$KAFKA_PORT and wait until it accepts connections
#   scripts/kafka.sh stop     stop it cleanly (SIGTERM, then SIGKILL after $KAFKA_STOP_TIMEOUT s)
#   scripts/kafka.sh kill     stop it abruptly (SIGKILL): what a crashed broker looks like
#   scripts/kafka.sh status   exit 0 if it is running
#
# Environment (defaults): KAFKA_VERSION (4.1.2), KAFKA_HOME (build/kafka), KAFKA_PORT (9092),
# KAFKA_DATA ($KAFKA_HOME/data), KAFKA_HEAP (1g), KAFKA_START_TIMEOUT (90), KAFKA_STOP_TIMEOUT (30).
# The jars live under build/ and are never committed. Needs Java 17+ and Maven.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.2}"
KAFKA_HOME="${KAFKA_HOME:-$REPO/build/kafka}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_DATA="${KAFKA_DATA:-$KAFKA_HOME/data}"
KAFKA_HEAP="${KAFKA_HEAP:-1g}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
LIBS="$KAFKA_HOME/libs"
PIDFILE="$KAFKA_DATA/broker.pid"
LOG="$KAFKA_DATA/broker.log"

die() { echo "kafka.sh: $*" >&2; exit 1; }

need() {
    command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"
}

fetch() {
    local stamp="$LIBS/.kafka_2.13-$KAFKA_VERSION"
    [[ -f "$stamp" ]] && return 0
    need java "install a Java 17+ runtime (apt-get install openjdk-17-jre-headless)"
    need mvn "install Maven (apt-get install maven)"
    mkdir -p "$KAFKA_HOME"
    # A throwaway POM whose only dependency is the broker: copy-dependencies then resolves
    # exactly the broker's runtime classpath from Maven Central.
    cat > "$KAFKA_HOME/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>org.vigil</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version>
    </dependency>
  </dependencies>
</project>
POM
    rm -rf "$LIBS.tmp"
    echo "kafka.sh: resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central" >&2
    mvn -q -B -f "$KAFKA_HOME/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$LIBS.tmp" >&2 \
        || die "Maven could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION"
    rm -rf "$LIBS"
    mv "$LIBS.tmp" "$LIBS"
    touch "$stamp"
}

running() {
    [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

answers() {
    (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null
}

start() {
    fetch
    mkdir -p "$KAFKA_DATA"
    if running; then
        echo "kafka.sh: broker already running (pid $(cat "$PIDFILE")) on 127.0.0.1:$KAFKA_PORT" >&2
        return 0
    fi
    answers && die "127.0.0.1:$KAFKA_PORT is taken by another process; choose KAFKA_PORT"
    local controller_port
    controller_port="$(free_port)"
    [[ "$controller_port" =~ ^[0-9]+$ ]] || die "could not find a free controller port (got '$controller_port')"
    # Static quorum of one: the controller port may change between restarts, the data may not.
    cat > "$KAFKA_DATA/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DATA/logs
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
PROPS
    if [[ ! -f "$KAFKA_DATA/logs/meta.properties" ]]; then
        # A cluster id is 16 random bytes in URL-safe base64 without padding (coreutils only:
        # a python3 call here once came back empty on a loaded box and the format failed).
        local cluster_id
        cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
        [[ ${#cluster_id} -eq 22 ]] || die "could not make a cluster id (got '$cluster_id')"
        java -cp "$LIBS/*" kafka.tools.StorageTool format --ignore-formatted -t "$cluster_id" \
            -c "$KAFKA_DATA/server.properties" >>"$LOG" 2>&1 \
            || die "formatting $KAFKA_DATA/logs failed; see $LOG"
    fi
    nohup java -Xms256m "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
        -cp "$LIBS/*" kafka.Kafka "$KAFKA_DATA/server.properties" >>"$LOG" 2>&1 </dev/null &
    echo $! > "$PIDFILE"
    local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
    until answers; do
        running || die "the broker exited during start; see $LOG"
        ((SECONDS < deadline)) || { stop; die "the broker did not answer within ${KAFKA_START_TIMEOUT}s; see $LOG"; }
        sleep 0.2
    done
    echo "kafka.sh: broker $KAFKA_VERSION (pid $(cat "$PIDFILE")) answers on 127.0.0.1:$KAFKA_PORT" >&2
}

stop() {
    local signal="${1:-TERM}"
    running || { rm -f "$PIDFILE"; return 0; }
    local pid
    pid="$(cat "$PIDFILE")"
    kill "-$signal" "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            echo "kafka.sh: broker $pid ignored SIGTERM for ${KAFKA_STOP_TIMEOUT}s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 0.1
    done
    rm -f "$PIDFILE"
}

case "${1:-}" in
    fetch) fetch ;;
    start) start ;;
    stop) stop TERM ;;
    kill) stop KILL ;;
    status) running ;;
    *) die "usage: scripts/kafka.sh fetch|start|stop|kill|status" ;;
esac
