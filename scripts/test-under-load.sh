#!/usr/bin/env bash
# The whole suite N times in a row while two busy loops keep both cores busy (issue 12's
# check for flaky tests): ./scripts/test-under-load.sh 10. Stops at the first failing run;
# logs go to test-output/load-run-K.log, one summary line per run to test-output/load-summary.
set -u
cd "$(dirname "$0")/.."
runs=${1:-10}
mkdir -p test-output
npm run build >/dev/null || exit 1
node -e 'for(;;){}' & b1=$!
node -e 'for(;;){}' & b2=$!
trap 'kill $b1 $b2 2>/dev/null' EXIT
for k in $(seq 1 "$runs"); do
  start=$(date +%s)
  # a run that hangs (a leaked handle keeps mocha alive) ends after an hour, as a failure; mocha
  # itself gets the signal (npx would not pass it on); what its tests started, the reaper of
  # test/helpers/proc.ts kills
  CI=true timeout --kill-after=30s 60m ./node_modules/.bin/mocha > "test-output/load-run-$k.log" 2>&1
  rc=$?
  line="run $k of $runs, commit $(git rev-parse --short HEAD): exit $rc in $(( $(date +%s) - start )) s; $(grep -E '^  [0-9]+ (passing|failing|pending)' "test-output/load-run-$k.log" | tr '\n' ' ')"
  echo "$line" | tee -a test-output/load-summary
  [ "$rc" -eq 0 ] || exit "$rc"
done
