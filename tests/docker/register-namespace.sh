#!/bin/sh
# The one-shot step of tests/docker/compose.test.yml that registers the workers' namespace
# DELAY seconds after the dev server at ADDRESS is SERVING, as auto-setup does for `default`.
tries=0
until temporal operator cluster health --address "$ADDRESS" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -gt 600 ]; then echo "no Temporal at $ADDRESS after 5 minutes"; exit 1; fi
  sleep 0.5
done
echo "Temporal is SERVING; registering the namespace workers in $DELAY s"
sleep "$DELAY"
temporal operator namespace create --address "$ADDRESS" --namespace workers
