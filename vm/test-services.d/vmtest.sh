#!/bin/sh
# The in-VM half of vm/test, run by taskmasterd as the service "vmtest" (busybox sh, no bash
# in the VM). Prints one line per check on the console:
#   CHECK ok NAME
#   CHECK fail NAME: why
# then "VMTEST done", and asks taskmasterd to power off. The host side (vm/test) knows the
# list of check names: a check that never prints counts as failed.
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export SYSTEMD_PAGER=cat
# Straight to the console: what taskmasterd does with our output must not matter here.
exec >/dev/console 2>&1

LOG=/var/log/taskmaster.log
failures=0

ok() { echo "CHECK ok $1"; }
fail() {
    echo "CHECK fail $1: $2"
    failures=$((failures + 1))
}
say() { echo "VMTEST $*"; }

# One instance's object of `tmctl --json status`, on one line (the objects are flat, so
# cutting at "}" separates them).
instance_json() {
    tmctl --json status 2>/dev/null | tr -d '\n' | tr '}' '\n' | grep "\"name\": *\"$1\""
}
# field INSTANCE FIELD: the value, without quotes ("null" when none).
field() {
    instance_json "$1" | sed -nE "s/.*\"$2\": *(\"[^\"]*\"|[^,]*).*/\1/p" | tr -d '" '
}

# Line number of the first log line for INSTANCE matching the awk regex EVENT (after the
# timestamp, level and name), or nothing.
first_line() {
    awk -v name="$1" -v event="$2" '$3 == name && $0 ~ event { print NR; exit }' "$LOG"
}
# (awk -v turns backslashes into escapes: brackets, not \(, for a literal parenthesis)
ready_re=' is RUNNING$|[(]expected[)]: EXITED$'
spawn_re=' spawned with pid '

# ---------------------------------------------------------------------------------------
say "started at uptime $(cut -d' ' -f1 /proc/uptime)"

# ready: every service reached the state it should stay in. The crasher comes and goes.
want="journald=RUNNING devlog=EXITED hostname=EXITED httpd=RUNNING worker:0=RUNNING
worker:1=RUNNING worker:2=RUNNING console=RUNNING"
deadline=$(($(cut -d. -f1 /proc/uptime) + 120))
while :; do
    missing=""
    for pair in $want; do
        name=${pair%%=*}
        state=$(field "$name" state)
        [ "$state" = "${pair#*=}" ] || missing="$missing $name=$state"
    done
    crasher=$(field crasher state)
    # (PENDING: waiting for its restart delay)
    case $crasher in RUNNING | STARTING | BACKOFF | PENDING) ;; *) missing="$missing crasher=$crasher" ;; esac
    [ -z "$missing" ] && break
    if [ "$(cut -d. -f1 /proc/uptime)" -ge "$deadline" ]; then
        break
    fi
    sleep 1
done
if [ -z "$missing" ]; then ok ready; else fail ready "not in the expected state:$missing"; fi
tmctl status

# deps-order: in the event log, each service became ready (RUNNING, or a oneshot EXITED
# with success) before anything ordered after it was spawned.
order_errors=""
check_order() { # FIRST THEN
    a=$(first_line "$1" "$ready_re")
    b=$(first_line "$2" "$spawn_re")
    if [ -z "$a" ]; then
        order_errors="$order_errors; $1 was never ready"
    elif [ -z "$b" ]; then
        order_errors="$order_errors; $2 was never spawned"
    elif [ "$a" -ge "$b" ]; then
        order_errors="$order_errors; $2 spawned (line $b) before $1 was ready (line $a)"
    fi
}
check_order journald devlog
check_order journald httpd
check_order devlog httpd
for follower in worker:0 worker:1 worker:2 crasher; do
    check_order devlog "$follower"
done
check_order hostname console
for service in journald devlog hostname httpd worker:0 worker:1 worker:2 console; do
    check_order "$service" vmtest
done
if [ -z "$order_errors" ]; then ok deps-order; else fail deps-order "${order_errors#; }"; fi

# httpd: answers on port 80, runs as nobody with CAP_NET_BIND_SERVICE (bit 10) only.
# busybox 1.35's wget -T (its own timeout) segfaults in Debian's static build: timeout(1).
page=$(timeout 20 wget -qO- http://127.0.0.1/ 2>&1)
case $page in
*"Hello from busybox httpd"*) ok httpd-answers ;;
*) fail httpd-answers "wget http://127.0.0.1/ gave: $(echo "$page" | head -n 3)" ;;
esac
pid=$(field httpd pid)
status=/proc/$pid/status
if [ -n "$pid" ] && [ "$pid" != null ] && [ -r "$status" ]; then
    uid=$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "$status")
    gid=$(awk '$1 == "Gid:" { print $2, $3, $4, $5 }' "$status")
    if [ "$uid" = "65534 65534 65534 65534" ] && [ "$gid" = "65534 65534 65534 65534" ]; then
        ok httpd-user
    else
        fail httpd-user "pid $pid has Uid $uid, Gid $gid (want 65534 everywhere)"
    fi
    eff=$(awk '$1 == "CapEff:" { print $2 }' "$status")
    prm=$(awk '$1 == "CapPrm:" { print $2 }' "$status")
    bnd=$(awk '$1 == "CapBnd:" { print $2 }' "$status")
    if [ "$eff" = 0000000000000400 ] && [ "$prm" = 0000000000000400 ]; then
        ok httpd-caps
    else
        fail httpd-caps "pid $pid has CapEff $eff CapPrm $prm (want 0000000000000400)"
    fi
    say "httpd pid $pid CapEff $eff CapPrm $prm CapBnd $bnd"
else
    fail httpd-user "no httpd pid in tmctl --json status ($pid)"
    fail httpd-caps "no httpd pid"
fi

# journal: taskmaster's events reach journald through /dev/log, including those from
# before the logger existed (journald's own spawn), and service output sent to syslog
# arrives under the instance's tag. journald may take a moment to get them.
i=0
while :; do
    events=$(journalctl -t taskmaster --no-pager -o cat 2>&1)
    worker=$(journalctl -t worker:0 --no-pager -o cat 2>&1)
    case $events in *"journald spawned with pid"*"httpd spawned with pid"*) break ;; esac
    i=$((i + 1))
    [ $i -ge 20 ] && break
    sleep 1
done
case $events in
*"journald spawned with pid"*"httpd spawned with pid"*) ok journal-spawn ;;
*) fail journal-spawn "journalctl -t taskmaster lacks the spawn events: $(echo "$events" | tail -n 3)" ;;
esac
case $worker in
*"worker demo starting"*) ok journal-output ;;
*) fail journal-output "journalctl -t worker:0 lacks the worker's output: $(echo "$worker" | tail -n 3)" ;;
esac

# crasher: a SIGKILL from outside is seen at once (the exit is logged within 2 s, without
# waiting for the crasher's own crash) and it is started again with a new pid.
i=0
# State, pid and uptime from one status: the crasher ends on its own 5 s after each start,
# so it is killed while it has at least 2 s left.
old=""
while [ $i -lt 240 ]; do
    crasher=$(instance_json crasher)
    state=$(echo "$crasher" | sed -nE 's/.*"state": *"([^"]*)".*/\1/p')
    pid=$(echo "$crasher" | sed -nE 's/.*"pid": *([0-9]+).*/\1/p')
    up=$(echo "$crasher" | sed -nE 's/.*"uptime_secs": *([0-9]+).*/\1/p')
    if [ "$state" = RUNNING ] && [ -n "$pid" ] && [ "${up:-9}" -le 2 ]; then
        old=$pid
        break
    fi
    sleep 0.25
    i=$((i + 1))
done
if [ -z "$old" ] || [ "$old" = null ]; then
    fail crasher-killed "crasher has no pid to kill"
    fail crasher-restarted "crasher has no pid"
else
    kill -KILL "$old"
    i=0
    seen=""
    while [ $i -lt 20 ]; do
        seen=$(grep -F "crasher (pid $old) exited with signal KILL" "$LOG")
        [ -n "$seen" ] && break
        sleep 0.1
        i=$((i + 1))
    done
    if [ -n "$seen" ]; then
        ok crasher-killed
    else
        fail crasher-killed "no 'crasher (pid $old) exited with signal KILL' in $LOG within 2 s"
    fi
    i=0
    new=$old
    while [ $i -lt 90 ]; do
        new=$(field crasher pid)
        state=$(field crasher state)
        [ "$state" = RUNNING ] && [ "$new" != "$old" ] && break
        sleep 0.5
        i=$((i + 1))
    done
    if [ "$state" = RUNNING ] && [ "$new" != "$old" ]; then
        ok crasher-restarted
        say "crasher pid $old killed, now pid $new"
    else
        fail crasher-restarted "crasher is $state with pid $new after the kill of $old"
    fi
fi

# orphans: 200 children whose parent exits at once (double fork) are re-parented to PID 1
# and reaped when they end: no zombie is left.
(sleep 4 & echo $! >/tmp/orphan.pid)
orphan=$(cat /tmp/orphan.pid)
ppid=$(awk '$1 == "PPid:" { print $2 }' "/proc/$orphan/status" 2>/dev/null)
if [ "$ppid" = 1 ]; then
    ok orphan-reparented
else
    fail orphan-reparented "orphan $orphan has PPid '$ppid', not 1"
fi
n=0
while [ $n -lt 200 ]; do
    (sleep 1 &)
    n=$((n + 1))
done
sleep 5 # the last orphans end 1 s after they start; the one above after 4 s
i=0
while :; do
    zombies=$(grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l)
    [ "$zombies" -eq 0 ] && break
    i=$((i + 1))
    [ $i -ge 10 ] && break
    sleep 1
done
if [ "$zombies" -eq 0 ]; then
    ok no-zombies
else
    fail no-zombies "$zombies zombie(s) after the orphan storm: $(grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | head -n 5 | tr '\n' ' ')"
fi

# upgrade: PID 1 re-executes itself in place; every service keeps its pid and httpd still
# answers. Busy (a crasher restart being spawned, say) is retried.
before="$(field httpd pid) $(field worker:0 pid) $(field journald pid)"
i=0
while :; do
    said=$(tmctl upgrade 2>&1) && break
    i=$((i + 1))
    case $said in *"try again"*) [ $i -lt 10 ] && sleep 0.5 && continue ;; esac
    break
done
after="$(field httpd pid) $(field worker:0 pid) $(field journald pid)"
page=$(timeout 20 wget -qO- http://127.0.0.1/ 2>&1)
case "$said|$page" in
*"(pid 1) took over"*"Hello from busybox httpd"*)
    if [ "$before" = "$after" ]; then
        ok upgrade
        say "$said"
    else
        fail upgrade "pids changed across the upgrade: $before -> $after"
    fi
    ;;
*) fail upgrade "tmctl upgrade said: $said; httpd gave: $(echo "$page" | head -n 1)" ;;
esac

# ---------------------------------------------------------------------------------------
# cgroups (vm/test-services.d/cgroups.kdl): as PID 1 taskmasterd mounted cgroup2 with every
# controller; each instance runs in /sys/fs/cgroup/taskmaster/SERVICE/INSTANCE.
CG=/sys/fs/cgroup/taskmaster
now_s() { cut -d. -f1 /proc/uptime; }
# wait_for SECONDS COMMAND...: until COMMAND succeeds (checked every 0.2 s), at most SECONDS.
wait_for() {
    limit=$(($(now_s) + $1))
    shift
    until "$@"; do
        [ "$(now_s)" -ge "$limit" ] && return 1
        sleep 0.2
    done
}
# A process that is gone, or dead and not yet reaped.
gone() { [ ! -e "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
state_is() { [ "$(field "$1" state)" = "$2" ]; }

# cgroup-escapee: a process that left the process group and the session (setsid, its parent
# gone) is still in the instance's cgroup, and is dead when `tmctl stop` returns: the stop
# kills the cgroup and waits until it is empty.
rm -f /tmp/escapee.pid
tmctl start escaper >/dev/null 2>&1
wait_for 60 test -s /tmp/escapee.pid
escapee=$(cat /tmp/escapee.pid 2>/dev/null)
main=$(field escaper pid)
if [ -z "$escapee" ] || gone "$escapee"; then
    fail cgroup-escapee "no escapee pid in /tmp/escapee.pid ('$escapee'); escaper is $(field escaper state)"
else
    # /proc/PID/stat: pid (comm) state ppid pgrp session ...
    escapee_stat=$(cut -d' ' -f4-6 "/proc/$escapee/stat")
    escapee_cgroup=$(cat "/proc/$escapee/cgroup")
    stopped=$(tmctl stop escaper 2>&1)
    if ! gone "$escapee"; then
        fail cgroup-escapee "escapee $escapee (ppid pgrp sid: $escapee_stat) still alive when 'tmctl stop' returned ($stopped): $(grep -E '^(State|PPid)' "/proc/$escapee/status" | tr '\n' ' ')"
    elif [ "$escapee_cgroup" != "0::/taskmaster/escaper/0" ]; then
        fail cgroup-escapee "escapee was in cgroup '$escapee_cgroup', not /taskmaster/escaper/0"
    elif [ "${escapee_stat##* }" = "$main" ]; then
        fail cgroup-escapee "the escapee did not leave the session of $main (ppid pgrp sid: $escapee_stat)"
    elif ! state_is escaper STOPPED; then
        fail cgroup-escapee "escaper is $(field escaper state) after tmctl stop: $stopped"
    else
        ok cgroup-escapee
        say "escapee $escapee (ppid pgrp sid: $escapee_stat, main $main) killed by the stop: $stopped"
    fi
fi

# oom-kill: a process over memory-max is killed by the OOM killer, and the log and status
# say so.
tmctl start hog >/dev/null 2>&1
oom_line="hog [(]pid [0-9]*[)] killed by the OOM killer, memory-max 16M"
if wait_for 60 grep -q "$oom_line" "$LOG"; then
    wait_for 30 state_is hog EXITED
    hog_status=$(tmctl status hog 2>&1)
    oom_kills=$(awk '$1 == "oom_kill" { print $2 }' "$CG/hog/0/memory.events" 2>/dev/null)
    case $hog_status in
    *"killed by the OOM killer, memory-max 16M"*)
        if [ "${oom_kills:-0}" -ge 1 ]; then
            ok oom-kill
            say "$(grep -m1 "$oom_line" "$LOG"); status: $hog_status"
        else
            fail oom-kill "memory.events has oom_kill '${oom_kills}'"
        fi
        ;;
    *) fail oom-kill "tmctl status hog does not say so: $hog_status" ;;
    esac
else
    fail oom-kill "no '$oom_line' in $LOG; hog is $(field hog state): $(grep ' hog ' "$LOG" | tail -n 3 | tr '\n' ' ')"
fi

# pids-max: with pids-max 5, the service's shell gets three sleepers (5 tasks with the two
# shells), then fork fails.
tmctl start forker >/dev/null 2>&1
forker_done() { tmctl tail forker 2>/dev/null | grep -q "forking stopped"; }
if wait_for 60 forker_done; then
    forker_out=$(tmctl tail forker 2>&1 | tr '\n' ' ')
    pids_max=$(cat "$CG/forker/0/pids.max" 2>/dev/null)
    refused=$(awk '$1 == "max" { print $2 }' "$CG/forker/0/pids.events" 2>/dev/null)
    tasks=$(field forker tasks)
    case $forker_out in
    *"started 4"*) fail pids-max "more than pids-max allowed: $forker_out" ;;
    *"started 3"*"forking stopped"*)
        if [ "$pids_max" = 5 ] && [ "${refused:-0}" -ge 1 ] && [ "$tasks" = 4 ]; then
            ok pids-max
            say "forker: pids.max $pids_max, forks refused $refused, tasks $tasks: $forker_out"
        else
            fail pids-max "pids.max '$pids_max', pids.events max '$refused', tasks '$tasks' (want 5, >= 1, 4): $forker_out"
        fi
        ;;
    *) fail pids-max "unexpected output: $forker_out" ;;
    esac
else
    fail pids-max "forker never said 'forking stopped': $(tmctl tail forker 2>&1 | tail -n 3 | tr '\n' ' ')"
fi
tmctl stop forker >/dev/null 2>&1

# accounting: a service holding 50 MiB shows at least that (memory.current), its three
# processes as tasks, and some CPU time, in status --json and status -l.
tmctl start eater >/dev/null 2>&1
eater_holds() { [ "$(field eater memory_bytes)" -ge 52428800 ] 2>/dev/null; }
if wait_for 60 eater_holds; then
    tasks=$(field eater tasks)
    cpu=$(field eater cpu_usec)
    long=$(tmctl status -l eater 2>&1)
    mem_column=$(echo "$long" | awk '$1 == "eater" { print $4 }')
    case $mem_column in
    [5-9][0-9].*M | [1-9][0-9][0-9].*M | *G) mem_ok=1 ;;
    *) mem_ok=0 ;;
    esac
    if [ "$tasks" = 3 ] && [ "${cpu:-0}" -gt 0 ] 2>/dev/null && [ "$mem_ok" = 1 ]; then
        ok accounting
        say "eater: memory_bytes $(field eater memory_bytes), cpu_usec $cpu, tasks $tasks; status -l: $(echo "$long" | tail -n 1)"
    else
        fail accounting "tasks '$tasks' (want 3), cpu_usec '$cpu', status -l MEM '$mem_column': $long"
    fi
else
    fail accounting "memory_bytes of eater is '$(field eater memory_bytes)' (want >= 52428800); state $(field eater state)"
fi
tmctl stop eater >/dev/null 2>&1

# The boot as a picture (`tmctl analyze --svg`) of the services vm/boot has, for the host to
# save (vm/cache/boot.svg) and render; README.md shows it.
if tmctl analyze --svg /tmp/boot.svg journald devlog hostname httpd worker crasher console >/dev/null 2>&1; then
    echo "VMTEST svg begin"
    cat /tmp/boot.svg
    echo "VMTEST svg end"
else
    say "tmctl analyze --svg failed: $(tmctl analyze --svg /tmp/boot.svg 2>&1)"
fi

say "done, $failures failed check(s), at uptime $(cut -d' ' -f1 /proc/uptime)"
# The host checks what follows on the console: services stopped in reverse order, the
# remaining processes killed, filesystems unmounted or read-only, power off.
if tmctl poweroff; then
    say "poweroff requested"
else
    say "tmctl poweroff failed"
fi
# Stay until the shutdown stops this service: the shutdown log then shows us stopped first.
exec sleep 600
