#!/usr/bin/env bash
# `make test-slurm`: Hydra multiruns through hydra/launcher=slurm on a real single-node SLURM
# cluster (munged, MariaDB, slurmdbd, slurmctld, slurmd started by scripts/slurm/cluster.sh).
#
#  1. installs Debian's packages when missing (apt-get), starts a fresh cluster under a temp dir;
#  2. sweep A: experiment=smoke seed=0,1,2 as a SLURM job array; checks every job's result files,
#     that each ran as its own array task (env.json: SLURM_JOB_ID, SLURM_ARRAY_TASK_ID) and that
#     sacct records each task COMPLETED;
#  3. sweep B: two jobs, one cancelled with scancel mid-training; the sweep must fail (exit != 0,
#     UncompletedJobError) within a bounded time instead of waiting forever, and sacct must say
#     CANCELLED while the other job's results are complete;
#  4. sweep C: one trainer=ddp job on CPU as 2 SLURM tasks (one process per rank, started by srun,
#     no re-launch of the command line); one result set, world size 2, rank 1 seen in its log;
#  5. always (trap on EXIT): cancels what is left, waits for an empty queue, stops the daemons.
#
# Skips (prints "SKIPPED: <reason>", exit 0) only where the machine cannot run it: not root, or no
# apt-get / no SLURM packages available. Where it must run, a skip is a failure (exit 1): under CI
# (CI=true, as .ci/run sets it) or with TUNNELLAB_SLURM_REQUIRED=1.
# Every wait is bounded; the whole script runs under `timeout` (TUNNELLAB_SLURM_TEST_S, 480 s).
# A failed run keeps its temp dir (cluster logs, sweep logs, .submitit/) and prints where it is.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TOTAL_S=${TUNNELLAB_SLURM_TEST_S:-480}

# The whole test under a hard timeout (SIGTERM runs the cleanup trap; SIGKILL 60 s later).
if [[ -z ${TUNNELLAB_SLURM_UNDER_TIMEOUT:-} ]]; then
	export TUNNELLAB_SLURM_UNDER_TIMEOUT=1
	exec timeout -k 60 "$TOTAL_S" bash "$0" "$@"
fi

CLUSTER=(bash "$ROOT/scripts/slurm/cluster.sh")
VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
RUN=$VENV/bin/tunnellab-run
STARTED=$SECONDS
export WANDB_MODE=offline WANDB_SILENT=true

say() { printf '[test-slurm %3ds] %s\n' "$((SECONDS - STARTED))" "$*"; }
fail() {
	printf '[test-slurm] FAILED: %s\n' "$*" >&2
	exit 1
}
skip() {
	if [[ ${TUNNELLAB_SLURM_REQUIRED:-0} == 1 || ${CI:-} == true ]]; then
		fail "cannot run here, and a skip is not allowed (CI=${CI:-}, TUNNELLAB_SLURM_REQUIRED=${TUNNELLAB_SLURM_REQUIRED:-0}): $*"
	fi
	echo "SKIPPED: $*"
	exit 0
}

# bounded SECONDS LOG COMMAND...: COMMAND under `timeout`, output to LOG (- for ours), status
# returned. It runs in the background (pid in CHILD) so that a TERM to this script is handled at
# once, not after COMMAND ends. (Redirect here, never around the call: a trap would inherit it.)
CHILD=
bounded() {
	local seconds=$1 log=$2 rc=0
	shift 2
	if [[ $log == - ]]; then
		timeout "$seconds" "$@" &
	else
		timeout "$seconds" "$@" >"$log" 2>&1 &
	fi
	CHILD=$!
	wait "$CHILD" || rc=$?
	CHILD=
	return "$rc"
}

# wait_until SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds, or fail.
wait_until() {
	local seconds=$1 what=$2
	shift 2
	local deadline=$((SECONDS + seconds))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || fail "timed out after ${seconds}s waiting for: $what"
		sleep 1
	done
}

# --- 0. can this machine run it? ------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || skip "needs root to install packages and run the SLURM daemons"
[[ -x $RUN ]] || fail "no $RUN: run 'make install' first"
install_started=$SECONDS
if ! bounded 400 - "${CLUSTER[@]}" install; then
	command -v apt-get >/dev/null || skip "SLURM packages missing and no apt-get to install them"
	if ! apt-cache policy slurmctld 2>/dev/null | grep -q 'Candidate: [0-9]'; then
		skip "Debian's SLURM packages are not installable here (no apt source for slurmctld)"
	fi
	fail "apt-get install of the SLURM packages failed"
fi
say "packages ready in $((SECONDS - install_started)) s"

# --- 1. a fresh cluster, stopped whatever happens -------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tunnellab-slurm-test.XXXXXX")
DIR=$TMP/cluster
chmod 755 "$TMP" # the munge and mysql users must reach the cluster dir inside
OUT=$TMP/out

cleanup() {
	local rc=$?
	# `timeout` signals this script and then its process group: a second TERM must not cut the
	# cleanup short. Commands below inherit the ignored TERM, hence `timeout -k`.
	trap - EXIT
	trap '' INT TERM
	if [[ -n $CHILD ]] && kill -0 "$CHILD" 2>/dev/null; then
		kill -TERM "$CHILD" 2>/dev/null || true # `timeout` passes it on to its command
		timeout -k 1 20 tail --pid="$CHILD" -f /dev/null || true
	fi
	say "stopping the cluster"
	if ! timeout -k 5 120 "${CLUSTER[@]}" stop "$DIR"; then
		echo "[test-slurm] cluster stop failed: daemons may still run (pids in $DIR/run)" >&2
		rc=1
	fi
	if ((rc == 0)); then
		rm -rf "$TMP"
		say "PASSED in $((SECONDS - STARTED)) s"
	else
		for log in "$DIR"/log/slurmctld.log "$DIR"/log/slurmd.log "$TMP"/sweep_*.log; do
			[[ -f $log ]] || continue
			echo "---- tail of $log" >&2
			tail -n 25 "$log" >&2
		done
		if ((rc == 143)); then
			echo "[test-slurm] stopped by the time limit (TUNNELLAB_SLURM_TEST_S=$TOTAL_S)" >&2
		fi
		echo "[test-slurm] FAILED after $((SECONDS - STARTED)) s; everything kept in $TMP" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

bounded 150 - "${CLUSTER[@]}" start "$DIR" || fail "the cluster did not start"
export SLURM_CONF=$DIR/etc/slurm.conf

# Launcher settings for this 2-CPU test node; everything else is conf/hydra/launcher/slurm.yaml.
LAUNCH=(-m hydra/launcher=slurm experiment=smoke logger=none "paths.output_root=$OUT"
	hydra.launcher.partition=debug hydra.launcher.timeout_min=10
	hydra.launcher.signal_delay_s=30 hydra.launcher.cpus_per_task=1 hydra.launcher.mem_gb=2)

# slurm_var ENV_JSON NAME: a SLURM variable a job recorded in its run dir (tunnellab.pipeline).
slurm_var() {
	"$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["slurm"][sys.argv[2]])' "$@"
}

# sacct_states ARRAY_JOB_ID: "<task>|<state>" per array task, as accounting recorded them.
sacct_states() { sacct -X -n -P -j "$1" -o JobID,State | sed -E 's/^[0-9]+_//' | sort -n; }
all_completed() { [[ $(sacct_states "$1" | grep -c '|COMPLETED$') -eq $2 ]]; }

# --- 2. sweep A: three jobs, all must complete as SLURM array tasks -------------------------
say "sweep A: experiment=smoke seed=0,1,2 through hydra/launcher=slurm"
sweep_started=$SECONDS
rc=0
bounded 300 "$TMP/sweep_a.log" "$RUN" "${LAUNCH[@]}" seed=0,1,2 "hydra.sweep.dir=$OUT/a" ||
	rc=$?
((rc == 0)) || fail "sweep A exited with $rc (log: $TMP/sweep_a.log)"
say "sweep A returned 0 after $((SECONDS - sweep_started)) s"

array=$("$PY" - "$OUT/a" 3 <<'EOF'
"""Check each job dir of a sweep: results and the SLURM ids it ran under; print the array id."""
import csv
import json
import sys
from pathlib import Path

sweep, n_jobs = Path(sys.argv[1]), int(sys.argv[2])
arrays = set()
for num in range(n_jobs):
    job = sweep / str(num)
    rows = list(csv.DictReader((job / "tunnel_metrics.csv").open()))
    assert rows, f"{job}/tunnel_metrics.csv has no rows"
    assert (job / "probe_results.csv").is_file() and (job / "done.json").is_file(), job
    slurm = json.loads((job / "env.json").read_text())["slurm"]
    assert slurm["SLURM_ARRAY_TASK_ID"] == str(num), (job, slurm["SLURM_ARRAY_TASK_ID"])
    assert rows[0]["seed"] == str(num), (job, rows[0]["seed"])
    arrays.add(slurm["SLURM_ARRAY_JOB_ID"])
    retained = ", ".join(f"{r['dataset']} {float(r['retained']):.0f}%" for r in rows)
    print(
        f"  job {num}: SLURM job {slurm['SLURM_JOB_ID']} = array task "
        f"{slurm['SLURM_ARRAY_JOB_ID']}_{slurm['SLURM_ARRAY_TASK_ID']} on "
        f"{slurm.get('SLURM_JOB_NODELIST', '?')}; retained: {retained}",
        file=sys.stderr,
    )
assert len(arrays) == 1, f"jobs ran in several arrays: {arrays}"
study = list(csv.DictReader((sweep / "study_runs.csv").open()))  # the multirun-end summary
assert [r["seed"] for r in study] == [str(n) for n in range(n_jobs)], study
print(arrays.pop())
EOF
) || fail "sweep A results are incomplete (see above)"
wait_until 60 "sacct: 3 COMPLETED tasks in array $array" all_completed "$array" 3
say "sweep A: array $array, sacct says: $(sacct_states "$array" | tr '\n' ' ')"

# --- 3. sweep B: cancel one job mid-training, the sweep must report it ----------------------
say "sweep B: optim.epochs=2,5000; job 1 will be cancelled with scancel mid-training"
timeout 300 "$RUN" "${LAUNCH[@]}" seed=0 optim.epochs=2,5000 "hydra.sweep.dir=$OUT/b" \
	>"$TMP/sweep_b.log" 2>&1 &
CHILD=$!
sweep_running_and() { kill -0 "$CHILD" && [[ -e $1 ]]; }
wait_until 180 "job 1 of sweep B to write a checkpoint" \
	sweep_running_and "$OUT/b/1/checkpoints/last.ckpt"
barray=$(slurm_var "$OUT/b/1/env.json" SLURM_ARRAY_JOB_ID)
victim=${barray}_1 # the array id alone would cancel every task
# Job 0 (2 epochs) finishes first, so the sweep is left waiting on the job we cancel.
task0_done() { kill -0 "$CHILD" && sacct_states "$barray" | grep -qx '0|COMPLETED'; }
wait_until 120 "job 0 of sweep B to complete" task0_done
squeue -h -j "$victim" -o %T | grep -qx RUNNING || fail "job $victim is not running"
ckpts=$(find "$OUT/b/1/checkpoints" -name '*.ckpt' | wc -l)
say "scancel $victim (job 1 is training: $ckpts checkpoint files so far)"
scancel "$victim"
cancelled_at=$SECONDS
sweep_exited() { ! kill -0 "$CHILD"; }
wait_until 150 "sweep B to exit after the cancel (a hang without accounting)" sweep_exited
rc=0
wait "$CHILD" || rc=$?
CHILD=
reported_s=$((SECONDS - cancelled_at))
((rc != 124)) || fail "sweep B hung: killed by its timeout after the cancel"
((rc != 0)) || fail "sweep B exited 0 although job $victim was cancelled"
grep -q UncompletedJobError "$TMP/sweep_b.log" ||
	fail "sweep B exited $rc without UncompletedJobError (log: $TMP/sweep_b.log)"
say "sweep B exited $rc ${reported_s} s after the cancel, reporting:"
grep -A1 -m1 'UncompletedJobError: ' "$TMP/sweep_b.log" | sed 's/^/    /'
[[ -s $OUT/b/0/tunnel_metrics.csv ]] || fail "sweep B job 0 (not cancelled) has no results"
cancelled() { sacct_states "$barray" | grep -qx '1|CANCELLED.*'; }
wait_until 60 "sacct: task 1 of array $barray CANCELLED" cancelled
sacct_states "$barray" | grep -qx '0|COMPLETED' || fail "sacct: task 0 of $barray not COMPLETED"
say "sweep B: array $barray, sacct says: $(sacct_states "$barray" | tr '\n' ' ')"

# --- 4. sweep C: one DDP job, SLURM starts one task per rank ---------------------------------
say "sweep C: trainer=ddp on CPU, 2 SLURM tasks (one per rank, no re-launch of the command line)"
rc=0
bounded 300 "$TMP/sweep_c.log" "$RUN" "${LAUNCH[@]}" seed=0 trainer=ddp trainer.accelerator=cpu \
	trainer.devices=2 trainer.precision=32-true hydra.launcher.tasks_per_node=2 \
	"hydra.sweep.dir=$OUT/c" || rc=$?
((rc == 0)) || fail "sweep C exited with $rc (log: $TMP/sweep_c.log)"
"$PY" - "$OUT/c/0" <<'EOF' || fail "sweep C: the DDP job's results are incomplete (see above)"
"""One result set from a 2-rank job: done.json says world size 2, env.json is SLURM task 0's."""
import json
import sys
from pathlib import Path

job = Path(sys.argv[1])
done = json.loads((job / "done.json").read_text())
assert done["world_size"] == 2, done
slurm = json.loads((job / "env.json").read_text())["slurm"]
assert slurm["SLURM_NTASKS"] == "2" and slurm["SLURM_PROCID"] == "0", slurm
print(f"  DDP job: SLURM job {slurm['SLURM_JOB_ID']}, {slurm['SLURM_NTASKS']} tasks, "
      f"world size {done['world_size']}, results in {job}", file=sys.stderr)
EOF
grep -q "GLOBAL_RANK: 1, MEMBER: 2/2" "$OUT/c/.submitit"/*/*_1_log.err ||
	fail "sweep C: no rank-1 process in the job's task logs"
say "sweep C: one 2-rank DDP job completed with one result set"
