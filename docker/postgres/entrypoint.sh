#!/bin/sh
# Starts PostgreSQL as PID 1. On a container's first start, the cluster is copied from the
# image's template and the postgres user gets the run's password ($FAULTLINE_PG_PASSWORD);
# later starts (restarts, kill then start) reuse the data directory.
set -eu
data=/var/lib/postgresql/data
bin=/usr/lib/postgresql/15/bin
as_postgres="setpriv --reuid=postgres --regid=postgres --init-groups"
if [ ! -s "$data/PG_VERSION" ]; then
  cp -a /var/lib/postgresql/template "$data"
  echo "ALTER USER postgres PASSWORD '${FAULTLINE_PG_PASSWORD:?the harness sets it}';" |
    $as_postgres "$bin/postgres" --single -D "$data" postgres >/dev/null
fi
exec $as_postgres "$bin/postgres" -D "$data" -c listen_addresses='*'
