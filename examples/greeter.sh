#!/bin/sh
# Greets each name it reads, one line per message:
#   wsbridge --devconsole examples/greeter.sh
# then open http://127.0.0.1:8080/ and send your name.
echo "Who are you?"
while IFS= read -r name; do
  echo "Hello, $name!"
done
