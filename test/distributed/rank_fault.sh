#!/usr/bin/env bash
# A rank that dies (SIGKILL) or hangs (SIGSTOP) in the middle of training: the job ends, non-zero,
# with an error naming rank 1 (or, stopped inside a collective, saying so), within the collective timeout (4 s here) plus the launcher's
# clean-up; the checkpoint of the last finished epoch is whole and a one-process run resumes it.
# Usage: rank_fault.sh ZEPHYR MPIRUN PYTHON WORKDIR kill|stop
set -uo pipefail
fault=$5
source "$(dirname "$0")/ranks.sh" "$1" "$2" "$3" "$4"
export ZEPHYR_COLLECTIVE_TIMEOUT=4 ZEPHYR_FAULT_TEST=$$  # the second marks this test's ranks
checkpoint="$work/run.safetensors"
train=(train --threads 1 --checkpoint "$checkpoint")

"$mpirun" -np 2 --oversubscribe --mca btl self,vader -x ZEPHYR_COLLECTIVE_TIMEOUT -x ZEPHYR_FAULT_TEST \
  "$zephyr" "${train[@]}" --epochs 3 > "$work/out.log" 2>&1 &
launcher=$!

# Rank 1's process: the one whose environment has this test's mark and rank 1.
rank1=""
for _ in $(seq 600); do
  if [ -z "$rank1" ]; then
    for environ in /proc/[0-9]*/environ; do
      marks=$({ tr '\0' '\n' < "$environ"; } 2>/dev/null | grep -cxE "ZEPHYR_FAULT_TEST=$$|OMPI_COMM_WORLD_RANK=1")
      if [ "$marks" = 2 ]; then rank1=${environ#/proc/}; rank1=${rank1%/environ}; fi
    done
  fi
  [ -n "$rank1" ] && [ -s "$checkpoint" ] && break  # epoch 1 is written: epoch 2 is under way
  sleep 0.05
done
if [ -z "$rank1" ] || [ ! -s "$checkpoint" ]; then
  echo "rank 1 or the first checkpoint did not appear:"; cat "$work/out.log"; kill "$launcher"; exit 1
fi
case $fault in
  kill) kill -KILL "$rank1" ;;
  stop) kill -STOP "$rank1" ;;
  *) echo "unknown fault '$fault'"; exit 2 ;;
esac
faulted=$EPOCHREALTIME

# The job must end by itself; 60 s is the test's patience, far above the 4 s timeout.
for _ in $(seq 1200); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$launcher" 2>/dev/null; then
  echo "the job still runs 60 s after rank 1 was hit with SIG${fault^^}:"; cat "$work/out.log"
  kill -KILL "$rank1" "$launcher"; exit 1
fi
wait "$launcher"
code=$?
took=$("$python" -c "print(f'{$EPOCHREALTIME - $faulted:.1f}')")
[ $code -ne 0 ] || { echo "the job exited 0 after rank 1 was hit:"; cat "$work/out.log"; exit 1; }
# A rank stopped inside a blocking collective cannot be named: the others are inside it too, and
# the backstop says so. Stopped anywhere else, the watchdog names it.
if [ "$fault" = stop ] && grep -q "hangs inside it" "$work/out.log"; then
  echo "rank 1 stopped inside a collective: the backstop ended the job"
else
  grep -Eq "rank 1 " "$work/out.log" || { echo "no message names rank 1:"; cat "$work/out.log"; exit 1; }
fi
if [ "$fault" = stop ]; then
  grep -q "died or hangs" "$work/out.log" || { echo "the watchdog did not report the hung rank:"; cat "$work/out.log"; exit 1; }
fi
echo "SIG${fault^^} to rank 1: the job ended with exit code $code after ${took} s:"
grep -E "rank 1 |hangs inside it" "$work/out.log" | head -3

"$zephyr" "${train[@]}" --epochs 3 --stop-after 2 --resume > "$work/resumed.log" 2>&1 ||
  { echo "the last checkpoint does not resume:"; cat "$work/resumed.log"; exit 1; }
grep -q "resumed from " "$work/resumed.log" || { echo "no resume:"; cat "$work/resumed.log"; exit 1; }
echo "the last checkpoint resumed: $(grep 'resumed from' "$work/resumed.log")"
