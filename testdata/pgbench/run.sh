#!/bin/bash
# usage: run.sh SCRIPT.sql [SECONDS]  — pgbench -M prepared -c 32 -j 2 against
# $PGS_URL (default: the scratch database pgs_scratch), and the CPU the postgres
# processes spent meanwhile (cpu.sh), per transaction.
cd "$(dirname "$0")"
T=${2:-10}
URL=${PGS_URL:-postgres://postgres@127.0.0.1:5432/pgs_scratch?sslmode=disable}
c0=$(./cpu.sh); read -r _ u0 n0 s0 i0 _ < /proc/stat
out=$(/usr/lib/postgresql/15/bin/pgbench -n -M prepared -c 32 -j 2 -T $T -f $1 "$URL" 2>&1)
c1=$(./cpu.sh); read -r _ u1 n1 s1 i1 _ < /proc/stat
tx=$(echo "$out" | awk '/number of transactions actually processed/{print $NF}' | cut -d/ -f1)
tps=$(echo "$out" | awk '/^tps/{print $3}')
lat=$(echo "$out" | awk '/latency average/{print $4}')
fail=$(echo "$out" | grep -i -E "failed|abort|error" | head -2 | tr '\n' ' ')
tck=$(getconf CLK_TCK)
echo "$1 tx=$tx tps=$tps lat_ms=$lat pgCPU_ticks=$((c1-c0)) pg_us_per_tx=$(( (c1-c0)*1000000/tck/(tx>0?tx:1) )) idle%=$(( 100*(i1-i0)/((u1-u0)+(n1-n0)+(s1-s0)+(i1-i0)) )) $fail"
