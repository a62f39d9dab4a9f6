#!/usr/bin/env bash
# A throwaway single-node SLURM cluster on localhost, with accounting, for tests and try-outs.
#
#   scripts/slurm/cluster.sh install       apt-get the Debian packages (skipped when present)
#   scripts/slurm/cluster.sh start  [DIR]  fresh cluster state in DIR, then start the daemons
#   scripts/slurm/cluster.sh status [DIR]  daemons, node state, queue
#   scripts/slurm/cluster.sh stop   [DIR]  cancel every job, stop the daemons `start` started
#   scripts/slurm/cluster.sh env    [DIR]  print `export SLURM_CONF=...` for client commands
#
# DIR defaults to $TUNNELLAB_SLURM_DIR or /tmp/tunnellab-slurm; `start` wipes it first (SLURM job
# ids restart at 1 on a fresh controller, so nothing old may survive, the accounting DB included).
# Everything lives in DIR: slurm.conf + slurmdbd.conf (etc/), controller state, slurmd spool, the
# MariaDB data dir and socket, the munge socket, logs (log/) and pid files (run/). Nothing under
# /etc is changed. Client commands (sbatch, squeue, sacct, a Hydra multirun with
# hydra/launcher=slurm) find this cluster through SLURM_CONF=DIR/etc/slurm.conf.
#
# Needs root (slurmd runs jobs as their submitter) and Debian's packages: munge slurmctld slurmd
# slurm-client slurmdbd mariadb-server. Start order: munged (as user munge) → MariaDB → slurmdbd
# (+ the cluster registered in accounting) → slurmctld → slurmd; stop is the reverse, after the
# queue is empty (without cgroups, job steps outlive slurmd). Accounting is not optional:
# submitit polls sacct, and without it a job killed from outside leaves a multirun waiting forever.
# The recipe and its pitfalls: docs/slurm.md.
set -euo pipefail

PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
CLUSTER=tunnellab
PARTITION=debug
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd) # start order; stop walks it backwards
PORTS=(6817 6818 6819)                              # slurmctld, slurmd, slurmdbd
WAIT_S=${TUNNELLAB_SLURM_WAIT_S:-60}                # bound on every wait below

say() { printf '[cluster] %s\n' "$*"; }
die() {
	printf '[cluster] ERROR: %s\n' "$*" >&2
	exit 1
}

state_dir() { printf '%s\n' "${1:-${TUNNELLAB_SLURM_DIR:-/tmp/tunnellab-slurm}}"; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.5 s until it succeeds.
wait_for() {
	local seconds=$1 what=$2
	shift 2
	local deadline=$((SECONDS + seconds))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.5
	done
	say "$what"
}

# up DIR NAME COMMAND...: wait until COMMAND succeeds while daemon NAME (started by launch) lives.
up() {
	local dir=$1 name=$2
	shift 2
	local deadline=$((SECONDS + WAIT_S))
	until "$@" >/dev/null 2>&1; do
		# (by pid only: until setsid/setpriv exec the daemon, the process has another name)
		alive "$(<"$dir/run/$name.pid")" || fail_start "$dir" "$name" "exited during start-up"
		((SECONDS < deadline)) || fail_start "$dir" "$name" "not ready within ${WAIT_S}s"
		sleep 0.5
	done
	say "$name ready"
}

queue_empty() { [[ -z $(squeue -h -o %A) ]]; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# alive PID: the process exists and is not a zombie (daemons reparented to a PID 1 that does not
# reap stay zombies after they exit; that counts as stopped).
alive() {
	local pid=$1 state
	[[ -r /proc/$pid/stat ]] || return 1
	state=$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
	[[ $state != Z ]]
}

# pid_of DIR NAME: the recorded pid of a daemon we started, if it is still that daemon.
pid_of() {
	local file=$1/run/$2.pid pid
	[[ -s $file ]] || return 1
	pid=$(<"$file")
	alive "$pid" || return 1
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]] || return 1
	printf '%s\n' "$pid"
}

missing_packages() {
	local pkg missing=()
	for pkg in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$pkg")
	done
	printf '%s\n' "${missing[@]}"
}

cmd_install() {
	local missing
	missing=$(missing_packages)
	if [[ -z $missing ]]; then
		say "packages already installed: ${PACKAGES[*]}"
		return 0
	fi
	[[ $(id -u) -eq 0 ]] || die "installing needs root"
	command -v apt-get >/dev/null || die "no apt-get on this machine"
	say "installing: $(echo "$missing" | tr '\n' ' ')"
	# Keep apt from starting the services it installs (we start our own daemons): a policy-rc.d
	# that says no, for the length of the install only, unless the machine already has one.
	local policy=/usr/sbin/policy-rc.d own_policy=0 rc=0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		own_policy=1
	fi
	local -a pkgs
	mapfile -t pkgs <<<"$missing"
	export DEBIAN_FRONTEND=noninteractive
	{
		timeout 120 apt-get -o DPkg::Lock::Timeout=60 update -qq &&
			timeout 270 apt-get -o DPkg::Lock::Timeout=60 install -y -qq \
				--no-install-recommends "${pkgs[@]}" >/dev/null
	} || rc=$?
	if ((own_policy)); then rm -f "$policy"; fi
	((rc == 0)) || die "apt-get failed (status $rc)"
	say "installed"
}

write_configs() {
	local dir=$1 host=$2 node_line
	# Our munged listens on a private socket (AuthInfo); AccountingStoragePass names it for the
	# connections to slurmdbd, which otherwise use the default /run/munge socket.
	# The node as slurmd sees it (CPUs, sockets, cores, RealMemory); NodeName forced to $host.
	node_line=$(slurmd -C | head -n 1 | sed -E "s/^NodeName=[^ ]+/NodeName=$host NodeAddr=127.0.0.1/")
	cat >"$dir/etc/slurm.conf" <<EOF
# Generated by scripts/slurm/cluster.sh: a single-node test cluster.
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
AuthInfo=socket=$dir/run/munge/munge.socket
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePass=$dir/run/munge/munge.socket
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
ReturnToService=2
KillWait=5
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.daemon.pid
SlurmdPidFile=$dir/run/slurmd.daemon.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
$node_line
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
	cat >"$dir/etc/slurmdbd.conf" <<EOF
# Generated by scripts/slurm/cluster.sh.
AuthType=auth/munge
AuthInfo=socket=$dir/run/munge/munge.socket
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
LogFile=$dir/log/slurmdbd.log
PidFile=$dir/run/slurmdbd.daemon.pid
EOF
	chmod 600 "$dir/etc/slurmdbd.conf"
}

# launch DIR NAME COMMAND...: start a daemon in its own session, logs in DIR/log, pid in DIR/run.
launch() {
	local dir=$1 name=$2
	shift 2
	setsid "$@" </dev/null >>"$dir/log/$name.out" 2>&1 &
	echo $! >"$dir/run/$name.pid"
}

# fail_start DIR NAME WHY: report which daemon did not come up, with the end of its logs.
fail_start() {
	local dir=$1 name=$2 why=$3 f
	for f in "$dir/log/$name".* "$dir/log/munge/$name".*; do
		if [[ -f $f ]]; then tail -n 15 "$f" | sed "s|^|[$name] |" >&2; fi
	done
	cmd_stop "$dir" || true
	die "$name: $why (logs: $dir/log)"
}

cmd_start() {
	local dir host sock db f
	dir=$(state_dir "${1:-}")
	host=$(hostname -s)
	[[ $(id -u) -eq 0 ]] || die "starting the cluster needs root"
	[[ -z $(missing_packages) ]] || die "missing packages; run: $0 install"
	for f in "${DAEMONS[@]}"; do
		if pid_of "$dir" "$f" >/dev/null; then
			die "a cluster from $dir is still running; run: $0 stop $dir"
		fi
	done
	for f in "${PORTS[@]}"; do
		if port_in_use "$f"; then
			die "port $f is in use: another SLURM daemon runs here (ports ${PORTS[*]} are needed)"
		fi
	done
	rm -rf "$dir"
	mkdir -p "$dir"/{etc,state,spool,log,run}
	chmod 755 "$dir" # munge and mysql must reach their own subdirectories
	install -d -o munge -g munge -m 755 "$dir/run/munge" "$dir/log/munge"
	install -d -o mysql -g mysql -m 750 "$dir/mysql" "$dir/run/mysqld"
	setpriv --reuid=munge --regid=munge --init-groups -- test -x "$dir/run/munge" ||
		die "user munge cannot reach $dir: its parent directories must be world-searchable"
	write_configs "$dir" "$host"
	export SLURM_CONF=$dir/etc/slurm.conf
	sock=$dir/run/munge/munge.socket
	db=$dir/run/mysqld/mysqld.sock
	say "state dir $dir"

	# 1. munge, as user munge (as root it refuses: "PRNG seed dir is insecure").
	[[ -s /etc/munge/munge.key ]] || die "no /etc/munge/munge.key (reinstall the munge package)"
	launch "$dir" munged setpriv --reuid=munge --regid=munge --init-groups -- \
		munged --foreground --socket="$sock" --pid-file="$dir/run/munge/munged.pid" \
		--log-file="$dir/log/munge/munged.log"
	up "$dir" munged bash -c "munge -n -S '$sock' | unmunge -S '$sock'"

	# 2. MariaDB on a private socket (no networking); slurmdbd finds it via MYSQL_UNIX_PORT.
	mariadb-install-db --no-defaults --user=mysql --datadir="$dir/mysql" --skip-test-db \
		--auth-root-authentication-method=socket >"$dir/log/mariadb-install.log" 2>&1 ||
		fail_start "$dir" mariadb-install "mariadb-install-db failed"
	launch "$dir" mariadbd mariadbd --no-defaults --user=mysql --datadir="$dir/mysql" \
		--socket="$db" --pid-file="$dir/run/mysqld/mariadbd.pid" --skip-networking \
		--log-error="$dir/log/mariadbd.log"
	up "$dir" mariadbd mariadb-admin --no-defaults --socket="$db" ping

	# 3. slurmdbd (reads slurmdbd.conf next to $SLURM_CONF), then register the cluster.
	MYSQL_UNIX_PORT=$db launch "$dir" slurmdbd slurmdbd -D
	up "$dir" slurmdbd sacctmgr -n list cluster
	sacctmgr -i add cluster "$CLUSTER" >/dev/null

	# 4. slurmctld with clean state, 5. slurmd; the node must reach "idle".
	launch "$dir" slurmctld slurmctld -D -c
	up "$dir" slurmctld bash -c "scontrol ping | grep -q UP"
	launch "$dir" slurmd slurmd -D -N "$host"
	up "$dir" slurmd bash -c "sinfo -h -n '$host' -o %T | grep -qx idle"
	say "cluster '$CLUSTER' up: partition $PARTITION, node $host ($(nproc) CPUs)"
	say "use it with: export SLURM_CONF=$SLURM_CONF"
}

cmd_stop() {
	local dir name pid i deadline jobs
	dir=$(state_dir "${1:-}")
	[[ -d $dir/run ]] || {
		say "nothing to stop in $dir"
		return 0
	}
	export SLURM_CONF=$dir/etc/slurm.conf
	if pid_of "$dir" slurmctld >/dev/null; then
		jobs=$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ') || true
		if [[ -n ${jobs// /} ]]; then
			say "cancelling jobs: $jobs"
			# shellcheck disable=SC2086 # one id per word
			scancel $jobs 2>/dev/null || true
			if ! wait_for "$WAIT_S" "queue empty" queue_empty; then
				say "queue not empty after ${WAIT_S}s; stopping anyway"
			fi
		fi
	fi
	for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
		name=${DAEMONS[i]}
		pid=$(pid_of "$dir" "$name") || continue
		kill -TERM "$pid" 2>/dev/null || true
		deadline=$((SECONDS + 20))
		while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
		if alive "$pid"; then
			say "$name (pid $pid) ignored SIGTERM for 20 s; SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		say "stopped $name (pid $pid)"
	done
	for name in "${DAEMONS[@]}"; do
		if pid_of "$dir" "$name" >/dev/null; then die "$name still running"; fi
	done
}

cmd_status() {
	local dir name pid rc=0
	dir=$(state_dir "${1:-}")
	export SLURM_CONF=$dir/etc/slurm.conf
	for name in "${DAEMONS[@]}"; do
		if pid=$(pid_of "$dir" "$name"); then
			say "$name running (pid $pid)"
		else
			say "$name not running"
			rc=1
		fi
	done
	if ((rc == 0)); then
		sinfo
		squeue
	fi
	return "$rc"
}

main() {
	local cmd=${1:-}
	shift || true
	case $cmd in
	install) cmd_install ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	status) cmd_status "$@" ;;
	env) printf 'export SLURM_CONF=%s/etc/slurm.conf\n' "$(state_dir "${1:-}")" ;;
	*)
		sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
		[[ $cmd == -h || $cmd == --help || $cmd == help ]]
		;;
	esac
}

main "$@"
