#!/usr/bin/env bash
# Real services for keel's tests, on 127.0.0.1 only.
#
#   eval "$(scripts/services.sh)"        install what is missing, start what does not answer,
#                                        print `export KEEL_TEST_...=...` lines (same as `start`)
#   scripts/services.sh status           say what answers
#   scripts/services.sh stop             stop what this script started (by PID), nothing else
#   scripts/services.sh etcd-cluster [start|stop|kill N|start-member N|endpoints]
#                                        a 3-member etcd cluster on 12379/22379/32379 for fault tests
#
# Idempotent: services that already answer (this machine kind starts PostgreSQL, MariaDB and
# Redis at boot) are reused; a second run changes nothing and takes seconds. Progress goes to
# stderr, the export lines to stdout. Exits non-zero with the reason when something cannot start.
# State (data, logs, PID files) lives in $KEEL_SERVICES_DIR (default /tmp/keel-services);
# ports can be moved with KEEL_{ETCD,REDIS,PG,MYSQL,KAFKA}_PORT.
set -euo pipefail

STATE=${KEEL_SERVICES_DIR:-/tmp/keel-services}
TANSU_VERSION=0.6.0
ETCD_PORT=${KEEL_ETCD_PORT:-2379} REDIS_PORT=${KEEL_REDIS_PORT:-6379} PG_PORT=${KEEL_PG_PORT:-5432}
MYSQL_PORT=${KEEL_MYSQL_PORT:-3306} KAFKA_PORT=${KEEL_KAFKA_PORT:-9092}
TEST_USER=keel TEST_PASSWORD=keel TEST_DB=keel

log() { echo "services: $*" >&2; }
die() { echo "services: ERROR: $*" >&2; exit 1; }

# wait_until SECONDS WHAT CMD...: poll CMD every 0.2 s; fail with WHAT after SECONDS.
wait_until() {
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
  log "$what is up"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_alive PIDFILE NAME: the PID in PIDFILE runs a program whose command line contains NAME.
pid_alive() {
  local pid
  [[ -s $1 ]] || return 1
  pid=$(<"$1")
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"
}

# stop_pidfile PIDFILE NAME: TERM the process we started, wait for it, KILL after 20 s.
stop_pidfile() {
  local file=$1 name=$2 pid
  if pid_alive "$file" "$name"; then
    pid=$(<"$file")
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { log "$name did not stop; killing"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$file"
}

# ---------------------------------------------------------------- installation

APT_UPDATED=0
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  [[ $(id -u) == 0 ]] || die "installing $* needs root (apt-get)"
  if ((APT_UPDATED == 0)); then
    log "apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
  log "installing $*"
  # The image deletes downloaded .debs after each dpkg run, so an install that first upgrades
  # an essential package can stop half way; fixing and retrying once completes it.
  if ! apt-get install -y -qq --no-install-recommends "$@" >&2; then
    apt-get -f install -y -qq >&2 || true
    apt-get install -y -qq --no-install-recommends "$@" >&2 || die "apt-get install $* failed"
  fi
}

pg_bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

install_missing() {
  local pkgs=()
  command -v protoc >/dev/null || pkgs+=(protobuf-compiler)
  # etcd-client's build imports google/protobuf/*.proto, which ship in libprotobuf-dev (only a
  # recommendation of protobuf-compiler, so not always installed with it).
  [[ -f /usr/include/google/protobuf/descriptor.proto ]] || pkgs+=(libprotobuf-dev)
  command -v etcd >/dev/null || pkgs+=(etcd-server)
  command -v etcdctl >/dev/null || pkgs+=(etcd-client)
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || pkgs+=(redis-server)
  [[ -x /usr/sbin/mariadbd ]] && command -v mariadb >/dev/null || pkgs+=(mariadb-server mariadb-client)
  [[ -n $(pg_bin_dir) ]] && command -v pg_isready >/dev/null || pkgs+=(postgresql)
  ((${#pkgs[@]} == 0)) || apt_install "${pkgs[@]}"
  install_tansu
}

tansu_bin() {
  command -v tansu 2>/dev/null || { [[ -x $HOME/.cargo/bin/tansu ]] && echo "$HOME/.cargo/bin/tansu"; } || true
}

install_tansu() {
  local bin; bin=$(tansu_bin)
  if [[ -n $bin ]] && "$bin" --version 2>/dev/null | grep -q "$TANSU_VERSION"; then return; fi
  if port_open $KAFKA_PORT; then return; fi # a broker already answers; no need to build one
  command -v cargo >/dev/null || die "cargo is needed to install tansu (the Kafka-API broker)"
  mkdir -p "$STATE"
  log "installing tansu $TANSU_VERSION from crates.io (about 10 minutes; log: $STATE/tansu-install.log)"
  cargo install tansu --locked --version "$TANSU_VERSION" --features dynostore \
    >"$STATE/tansu-install.log" 2>&1 || die "cargo install tansu failed; see $STATE/tansu-install.log"
}

# ---------------------------------------------------------------- etcd

etcd_healthy() { ETCDCTL_API=3 etcdctl --endpoints="$1" --command-timeout=2s endpoint health; }

# start_etcd NAME CLIENT_PORT PEER_PORT INITIAL_CLUSTER TOKEN DIR (TOKEN is shared by all members)
start_etcd() {
  local name=$1 client=$2 peer=$3 cluster=$4 token=$5 dir=$6
  mkdir -p "$dir"
  [[ $(uname -m) == x86_64 ]] || export ETCD_UNSUPPORTED_ARCH=${ETCD_UNSUPPORTED_ARCH:-arm64}
  setsid nohup etcd --name "$name" --data-dir "$dir/data" --logger zap --log-level warn \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$cluster" --initial-cluster-token "$token" --initial-cluster-state new \
    >"$dir/etcd.log" 2>&1 </dev/null &
  echo $! >"$dir/etcd.pid"
}

ensure_etcd() {
  if etcd_healthy "127.0.0.1:$ETCD_PORT" >/dev/null 2>&1; then log "etcd answers on $ETCD_PORT; reusing it"; return; fi
  port_open $ETCD_PORT && die "port $ETCD_PORT is taken by something that is not a healthy etcd"
  log "starting etcd on 127.0.0.1:$ETCD_PORT"
  start_etcd keel-etcd "$ETCD_PORT" $((ETCD_PORT + 1)) "keel-etcd=http://127.0.0.1:$((ETCD_PORT + 1))" keel-etcd "$STATE/etcd"
  wait_until 30 etcd etcd_healthy "127.0.0.1:$ETCD_PORT" || die "etcd did not become healthy in 30s; see $STATE/etcd/etcd.log"
}

# ---------------------------------------------------------------- Redis

redis_up() { redis-cli -h 127.0.0.1 -p $REDIS_PORT ping 2>/dev/null | grep -q PONG; }

ensure_redis() {
  if redis_up; then log "Redis answers on $REDIS_PORT; reusing it"; return; fi
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  mkdir -p "$STATE/redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port $REDIS_PORT --save '' --appendonly no \
    --dir "$STATE/redis" --pidfile "$STATE/redis/redis.pid" --logfile "$STATE/redis/redis.log" >&2 \
    || die "redis-server failed to start; see $STATE/redis/redis.log"
  wait_until 10 Redis redis_up || die "Redis did not answer PING in 10s; see $STATE/redis/redis.log"
}

# ---------------------------------------------------------------- PostgreSQL

pg_up() { pg_isready -h 127.0.0.1 -p $PG_PORT -q; }

pg_superuser() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- psql -X -v ON_ERROR_STOP=1 -qAt "$@"
  else psql -X -h 127.0.0.1 -p $PG_PORT -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; fi
}

ensure_postgres() {
  if pg_up; then
    log "PostgreSQL answers on $PG_PORT; reusing it"
  else
    local version
    version=$(basename "$(dirname "$(pg_bin_dir)")")
    [[ -n $version ]] || die "no PostgreSQL installation found under /usr/lib/postgresql"
    if [[ ! -d /etc/postgresql/$version/main ]]; then
      log "creating PostgreSQL $version cluster 'main'"
      pg_createcluster "$version" main >&2 || die "pg_createcluster $version main failed"
    fi
    install -d -o postgres -g postgres -m 2775 /var/run/postgresql
    log "starting PostgreSQL $version on 127.0.0.1:$PG_PORT"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 \
      || die "pg_ctlcluster $version main start failed; see /var/log/postgresql/"
    wait_until 30 PostgreSQL pg_up || die "PostgreSQL did not accept connections in 30s"
    head -n 1 "/var/lib/postgresql/$version/main/postmaster.pid" >"$STATE/postgres.pid"
  fi
  pg_superuser -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$TEST_USER') THEN
        CREATE ROLE $TEST_USER LOGIN PASSWORD '$TEST_PASSWORD' CREATEDB;
      END IF; END \$\$;" || die "could not create the PostgreSQL role $TEST_USER"
  [[ $(pg_superuser -c "SELECT 1 FROM pg_database WHERE datname = '$TEST_DB'") == 1 ]] \
    || pg_superuser -c "CREATE DATABASE $TEST_DB OWNER $TEST_USER" || die "could not create database $TEST_DB"
  PGPASSWORD=$TEST_PASSWORD psql -X -h 127.0.0.1 -p $PG_PORT -U $TEST_USER -d $TEST_DB -qAt -c 'SELECT 1' >/dev/null \
    || die "PostgreSQL refuses $TEST_USER/$TEST_PASSWORD over TCP; check pg_hba.conf"
}

# ---------------------------------------------------------------- MariaDB

mysql_root() { mariadb -uroot --protocol=socket "$@"; }
mysql_login() { mariadb -h 127.0.0.1 -P $MYSQL_PORT -u$TEST_USER -p$TEST_PASSWORD --protocol=tcp -e 'SELECT 1' >/dev/null 2>&1; }
mysql_socket_up() { mysql_root -e 'SELECT 1'; }

ensure_mariadb() {
  if port_open $MYSQL_PORT; then
    log "MariaDB answers on $MYSQL_PORT; reusing it"
  else
    log "starting MariaDB on 127.0.0.1:$MYSQL_PORT"
    install -d -o mysql -g root /run/mysqld
    install -d -o mysql "$STATE/mariadb"
    if [[ ! -d /var/lib/mysql/mysql ]]; then
      mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$STATE/mariadb/install.log" 2>&1 \
        || die "mariadb-install-db failed; see $STATE/mariadb/install.log"
    fi
    start-stop-daemon --start --background --make-pidfile --pidfile "$STATE/mariadb.pid" \
      --exec /usr/sbin/mariadbd -- --user=mysql --bind-address=127.0.0.1 --port=$MYSQL_PORT \
      --socket=/run/mysqld/mysqld.sock --log-error="$STATE/mariadb/error.log" >&2 \
      || die "could not start mariadbd"
    wait_until 60 MariaDB port_open $MYSQL_PORT || die "MariaDB did not listen in 60s; see $STATE/mariadb/error.log"
  fi
  if ! mysql_login; then
    wait_until 30 "MariaDB socket" mysql_socket_up || die "cannot reach MariaDB as root through its socket"
    mysql_root -e "
      CREATE USER IF NOT EXISTS '$TEST_USER'@'127.0.0.1' IDENTIFIED BY '$TEST_PASSWORD';
      CREATE USER IF NOT EXISTS '$TEST_USER'@'localhost' IDENTIFIED BY '$TEST_PASSWORD';
      GRANT ALL PRIVILEGES ON *.* TO '$TEST_USER'@'127.0.0.1' WITH GRANT OPTION;
      GRANT ALL PRIVILEGES ON *.* TO '$TEST_USER'@'localhost' WITH GRANT OPTION;
      CREATE DATABASE IF NOT EXISTS $TEST_DB;
      FLUSH PRIVILEGES;" || die "could not create the MariaDB user $TEST_USER"
    mysql_login || die "MariaDB refuses $TEST_USER/$TEST_PASSWORD over TCP"
  fi
}

# ---------------------------------------------------------------- Kafka API (tansu)

ensure_kafka() {
  if port_open $KAFKA_PORT; then log "a Kafka-API broker answers on $KAFKA_PORT; reusing it"; return; fi
  local bin; bin=$(tansu_bin)
  [[ -n $bin ]] || die "tansu is not installed"
  log "starting tansu (Kafka API, in-memory storage) on 127.0.0.1:$KAFKA_PORT"
  mkdir -p "$STATE/kafka"
  # tansu reads these generic names; a value meant for something else would break it.
  env -u SCHEMA_REGISTRY -u OTEL_EXPORTER_OTLP_ENDPOINT RUST_LOG=warn setsid nohup "$bin" broker \
    --cluster-id keel --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" --storage-engine memory://tansu/ \
    >"$STATE/kafka/tansu.log" 2>&1 </dev/null &
  echo $! >"$STATE/kafka.pid"
  wait_until 60 "Kafka API" port_open $KAFKA_PORT || die "tansu did not listen in 60s; see $STATE/kafka/tansu.log"
}

# ---------------------------------------------------------------- 3-member etcd cluster

CLUSTER_DIR=$STATE/etcd-cluster
member_ports() { echo "$((10000 * $1 + 2379)) $((10000 * $1 + 2380))"; }
cluster_spec() { echo "m1=http://127.0.0.1:12380,m2=http://127.0.0.1:22380,m3=http://127.0.0.1:32380"; }
cluster_endpoints() { echo "http://127.0.0.1:12379,http://127.0.0.1:22379,http://127.0.0.1:32379"; }

start_member() {
  local n=$1 client peer
  read -r client peer <<<"$(member_ports "$n")"
  if pid_alive "$CLUSTER_DIR/m$n/etcd.pid" etcd; then return; fi
  port_open "$client" && die "port $client is taken by something this script did not start"
  start_etcd "m$n" "$client" "$peer" "$(cluster_spec)" keel-cluster "$CLUSTER_DIR/m$n"
}

etcd_cluster() {
  local action=${1:-start}
  case $action in
    start)
      for n in 1 2 3; do start_member "$n"; done
      wait_until 30 "etcd cluster" etcd_healthy "$(cluster_endpoints)" \
        || die "the etcd cluster did not become healthy; see $CLUSTER_DIR/m*/etcd.log"
      echo "export KEEL_TEST_ETCD_CLUSTER=$(cluster_endpoints)" ;;
    kill)
      [[ ${2:-} =~ ^[123]$ ]] || die "usage: etcd-cluster kill 1|2|3"
      if pid_alive "$CLUSTER_DIR/m$2/etcd.pid" etcd; then
        local pid; pid=$(<"$CLUSTER_DIR/m$2/etcd.pid")
        kill -KILL "$pid"
        while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
        log "member m$2 (pid $pid) killed"
      fi ;;
    start-member)
      [[ ${2:-} =~ ^[123]$ ]] || die "usage: etcd-cluster start-member 1|2|3"
      start_member "$2"
      wait_until 30 "member m$2" etcd_healthy "127.0.0.1:$(member_ports "$2" | cut -d' ' -f1)" \
        || die "member m$2 did not become healthy" ;;
    stop)
      for n in 1 2 3; do stop_pidfile "$CLUSTER_DIR/m$n/etcd.pid" etcd; done
      rm -rf "$CLUSTER_DIR" ;;
    endpoints) echo "export KEEL_TEST_ETCD_CLUSTER=$(cluster_endpoints)" ;;
    *) die "usage: etcd-cluster [start|stop|kill N|start-member N|endpoints]" ;;
  esac
}

# ---------------------------------------------------------------- commands

print_env() {
  cat <<EOF
export KEEL_TEST_ETCD=http://127.0.0.1:$ETCD_PORT
export KEEL_TEST_REDIS=redis://127.0.0.1:$REDIS_PORT/
export KEEL_TEST_POSTGRES=postgres://$TEST_USER:$TEST_PASSWORD@127.0.0.1:$PG_PORT/$TEST_DB?sslmode=disable
export KEEL_TEST_MYSQL=mysql://$TEST_USER:$TEST_PASSWORD@127.0.0.1:$MYSQL_PORT/$TEST_DB
export KEEL_TEST_KAFKA=127.0.0.1:$KAFKA_PORT
EOF
}

start_all() {
  mkdir -p "$STATE"
  install_missing
  ensure_etcd
  ensure_redis
  ensure_postgres
  ensure_mariadb
  ensure_kafka
  print_env | tee "$STATE/env"
}

stop_all() {
  etcd_cluster stop
  stop_pidfile "$STATE/kafka.pid" tansu
  stop_pidfile "$STATE/etcd/etcd.pid" etcd
  stop_pidfile "$STATE/redis/redis.pid" redis-server
  stop_pidfile "$STATE/mariadb.pid" mariadbd
  stop_pidfile "$STATE/postgres.pid" postgres
  log "stopped everything this script had started"
}

status() {
  etcd_healthy "127.0.0.1:$ETCD_PORT" >/dev/null 2>&1 && log "etcd: up" || log "etcd: down"
  redis_up && log "Redis: up" || log "Redis: down"
  pg_up && log "PostgreSQL: up" || log "PostgreSQL: down"
  port_open $MYSQL_PORT && log "MariaDB: up" || log "MariaDB: down"
  port_open $KAFKA_PORT && log "Kafka API: up" || log "Kafka API: down"
}

case ${1:-start} in
  start) start_all ;;
  stop) stop_all ;;
  status) status ;;
  env) print_env ;;
  etcd-cluster) shift; mkdir -p "$STATE"; etcd_cluster "$@" ;;
  -h | --help | help) sed -n '2,16p' "$0" ;;
  *) die "unknown command ${1}; see --help" ;;
esac
