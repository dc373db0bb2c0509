#!/usr/bin/env bash
# A MariaDB master and a real replica on loopback ports, for tornadopy's replica tests.
#
#   scripts/mariadb-replica.sh start [master|replica]   start (and set up) both servers, or one
#   scripts/mariadb-replica.sh stop  [master|replica]   stop both servers, or one
#   scripts/mariadb-replica.sh status                   exit 0 when both run and replication works
#   scripts/mariadb-replica.sh reset                    stop both and delete their data
#
# Both are NEW servers started from the installed MariaDB packages (mariadbd, mariadb-install-db);
# nothing of the system's MariaDB (port 3306, /etc/mysql) is read or touched.
#   master : 127.0.0.1:$TORNADOPY_MARIADB_MASTER_PORT  (3307), server_id 1, binary log on
#   replica: 127.0.0.1:$TORNADOPY_MARIADB_REPLICA_PORT (3308), server_id 2, read_only,
#            replicating from the master with GTID
# Data, sockets, pid files and logs live in $TORNADOPY_MARIADB_DIR (/tmp/tornadopy-mariadb).
# Users: root@127.0.0.1 without password on both (like the CI machine's 3306); database `test`
# is created on the master and reaches the replica through replication.
# `start` is idempotent: running servers are left alone, replication is configured once and
# restarted when it is not running.
set -euo pipefail

BASE=${TORNADOPY_MARIADB_DIR:-/tmp/tornadopy-mariadb}
MASTER_PORT=${TORNADOPY_MARIADB_MASTER_PORT:-3307}
REPLICA_PORT=${TORNADOPY_MARIADB_REPLICA_PORT:-3308}
MARIADBD=$(command -v mariadbd || echo /usr/sbin/mariadbd)
INSTALL_DB=$(command -v mariadb-install-db || echo /usr/bin/mariadb-install-db)
CLIENT=$(command -v mariadb || echo /usr/bin/mariadb)
WAIT_SECONDS=${TORNADOPY_MARIADB_WAIT:-60}

log() { echo "mariadb-replica: $*" >&2; }
die() { log "$*"; exit 1; }

port_of() { if [ "$1" = master ]; then echo "$MASTER_PORT"; else echo "$REPLICA_PORT"; fi; }
id_of() { if [ "$1" = master ]; then echo 1; else echo 2; fi; }
dir_of() { echo "$BASE/$1"; }
sock_of() { echo "$BASE/$1/mysqld.sock"; }

# sql NODE "statement" -- run as root@localhost over the node's unix socket
sql() { "$CLIENT" --no-defaults -uroot -S "$(sock_of "$1")" -N -B -e "$2"; }

pid_of() {
    local f
    f="$(dir_of "$1")/mysqld.pid"
    [ -s "$f" ] && cat "$f" || true
}

is_running() {
    local pid
    pid=$(pid_of "$1")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

answers() { sql "$1" "SELECT 1" >/dev/null 2>&1; }

init_node() {
    local node=$1 dir
    dir=$(dir_of "$node")
    [ -d "$dir/data/mysql" ] && return 0
    log "initialising $node data directory in $dir/data"
    mkdir -p "$dir/data"
    "$INSTALL_DB" --no-defaults --user=root --datadir="$dir/data" \
        --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
        >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; die "mariadb-install-db failed for $node"; }
}

start_node() {
    local node=$1 dir port id extra=()
    dir=$(dir_of "$node")
    port=$(port_of "$node")
    id=$(id_of "$node")
    if is_running "$node" && answers "$node"; then
        return 0
    fi
    init_node "$node"
    if [ "$node" = master ]; then
        extra+=(--log-bin="$dir/data/binlog" --binlog-format=ROW)
    else
        extra+=(--relay-log="$dir/data/relay" --read-only=ON --slave-net-timeout=5)
    fi
    log "starting $node on 127.0.0.1:$port (server_id $id)"
    setsid "$MARIADBD" --no-defaults --user=root \
        --datadir="$dir/data" --port="$port" --bind-address=127.0.0.1 \
        --socket="$(sock_of "$node")" --pid-file="$dir/mysqld.pid" \
        --log-error="$dir/error.log" --server-id="$id" --skip-name-resolve \
        --innodb-buffer-pool-size=64M --max-connections=600 \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
        "${extra[@]}" </dev/null >>"$dir/stdout.log" 2>&1 &
    local waited=0
    until answers "$node"; do
        sleep 0.2
        waited=$((waited + 1))
        if [ $waited -ge $((WAIT_SECONDS * 5)) ]; then
            tail -n 30 "$dir/error.log" >&2 || true
            die "$node did not answer within ${WAIT_SECONDS}s"
        fi
    done
    # accounts for TCP clients (local only: never written to the binary log)
    sql "$node" "SET sql_log_bin = 0;
        CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
        GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
        CREATE USER IF NOT EXISTS 'root'@'::1';
        GRANT ALL PRIVILEGES ON *.* TO 'root'@'::1' WITH GRANT OPTION;"
    if [ "$node" = master ]; then
        sql master "SET sql_log_bin = 0;
            CREATE USER IF NOT EXISTS 'repl'@'127.0.0.1' IDENTIFIED BY 'repl';
            GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';"
    fi
}

stop_node() {
    local node=$1 pid waited=0
    pid=$(pid_of "$node")
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        return 0
    fi
    log "stopping $node (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do
        sleep 0.2
        waited=$((waited + 1))
        if [ $waited -ge $((WAIT_SECONDS * 5)) ]; then
            log "$node did not stop within ${WAIT_SECONDS}s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
    done
    rm -f "$(dir_of "$node")/mysqld.pid"
}

slave_field() {
    # slave_field NAME -- one field of SHOW SLAVE STATUS on the replica
    "$CLIENT" --no-defaults -uroot -S "$(sock_of replica)" -E -e "SHOW SLAVE STATUS" 2>/dev/null |
        awk -F': ' -v k="$1" '{ gsub(/^ +/, "", $1) } $1 == k { print $2 }'
}

setup_replication() {
    sql master "CREATE DATABASE IF NOT EXISTS test"
    if [ -z "$(slave_field Master_Host)" ]; then
        log "configuring replication 127.0.0.1:$MASTER_PORT -> 127.0.0.1:$REPLICA_PORT"
        sql replica "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$MASTER_PORT,
            MASTER_USER='repl', MASTER_PASSWORD='repl', MASTER_USE_GTID=slave_pos,
            MASTER_CONNECT_RETRY=1"
    fi
    if [ "$(slave_field Slave_IO_Running)" != Yes ] || [ "$(slave_field Slave_SQL_Running)" != Yes ]; then
        sql replica "START SLAVE" || true
    fi
    local waited=0
    until [ "$(slave_field Slave_IO_Running)" = Yes ] && [ "$(slave_field Slave_SQL_Running)" = Yes ] &&
        sql replica "SHOW DATABASES LIKE 'test'" | grep -qx test; do
        sleep 0.2
        waited=$((waited + 1))
        if [ $waited -ge $((WAIT_SECONDS * 5)) ]; then
            "$CLIENT" --no-defaults -uroot -S "$(sock_of replica)" -E -e "SHOW SLAVE STATUS" >&2 || true
            die "replication did not start within ${WAIT_SECONDS}s"
        fi
    done
}

status() {
    local rc=0 node
    for node in master replica; do
        if is_running "$node" && answers "$node"; then
            echo "$node: running, pid $(pid_of "$node"), 127.0.0.1:$(port_of "$node"), server_id $(sql "$node" 'SELECT @@server_id')"
        else
            echo "$node: not running"
            rc=1
        fi
    done
    if [ $rc -eq 0 ]; then
        local io sqlr
        io=$(slave_field Slave_IO_Running)
        sqlr=$(slave_field Slave_SQL_Running)
        echo "replication: io=${io:-none} sql=${sqlr:-none} behind=$(slave_field Seconds_Behind_Master)"
        [ "$io" = Yes ] && [ "$sqlr" = Yes ] || rc=1
    fi
    return $rc
}

cmd=${1:-status}
node=${2:-}
case "$node" in
    "" | master | replica) ;;
    *) die "unknown server '$node' (master or replica)" ;;
esac
mkdir -p "$BASE"

case "$cmd" in
    start)
        if [ -n "$node" ]; then
            start_node "$node"
            if [ "$node" = replica ] && is_running master; then setup_replication; fi
        else
            start_node master
            start_node replica
            setup_replication
            status
        fi
        ;;
    stop)
        if [ -n "$node" ]; then
            stop_node "$node"
        else
            stop_node replica
            stop_node master
        fi
        ;;
    status) status ;;
    reset)
        stop_node replica
        stop_node master
        rm -rf "$BASE"
        ;;
    *) die "usage: $0 start|stop [master|replica] | status | reset" ;;
esac
