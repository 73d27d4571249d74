#!/bin/sh
# Counts to ${1:-10}, one message per number, then exits 0 (close code 1000).
n=${1:-10}
i=1
while [ "$i" -le "$n" ]; do
  echo "$i"
  i=$((i + 1))
  sleep 0.1
done
