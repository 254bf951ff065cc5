#!/bin/bash
# total CPU ticks of the postgres processes, dead children included (postmaster's cutime+cstime)
pm=$(pgrep -u postgres -o postgres)
t=0
for p in $(pgrep -u postgres postgres); do
  s=$(cut -d')' -f2 /proc/$p/stat 2>/dev/null) || continue
  set -- $s
  t=$((t + ${12} + ${13}))
  [ "$p" = "$pm" ] && t=$((t + ${14} + ${15}))
done
echo $t
