#!/bin/sh
# Says goodbye without a final newline and exits with the status named in the
# query string, e.g. ws://127.0.0.1:8080/?3 closes with code 4003.
printf 'bye'
exit "${QUERY_STRING:-0}"
