#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on a free loopback port and prints its URL.
# Usage: eval "$(bash .ci/pg-cluster.sh start NAME)"; later: bash .ci/pg-cluster.sh stop NAME
set -euo pipefail
action=${1:?start|stop}
name=${2:-lwtest$$}
ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
case "$action" in
  start)
    port=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
    # Listens on localhost (the default); fsync off: a test cluster is thrown away, durability buys nothing here.
    # Benchmarks set LW_PG_FSYNC=on so commits wait for the disk as a real deployment's do.
    pg_createcluster "$ver" "$name" -p "$port" -o "fsync=${LW_PG_FSYNC:-off}" \
      -o "max_connections=200" -- --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    pg_ctlcluster "$ver" "$name" start
    password=$(node -e "console.log(require('crypto').randomBytes(12).toString('hex'))")
    su postgres -c "psql -q -p $port -c \"create role lockwarden login superuser password '$password'\"" >/dev/null
    echo "export TEST_DATABASE_URL=postgres://lockwarden:$password@127.0.0.1:$port/postgres"
    echo "export LW_PG_CLUSTER=$name"
    ;;
  stop)
    pg_dropcluster --stop "$ver" "$name" >/dev/null 2>&1 || true
    ;;
esac
