#!/bin/sh
# The in-VM half of vm/bench-boot. `read` is a shell builtin: the first thing this process
# does is read the kernel's uptime, before any fork.
read -r ready _ </proc/uptime
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
exec >/dev/console 2>&1
# When the kernel started init: its own log line "[ 2.412575] Run /sbin/taskmasterd as init
# process" (the ring buffer keeps it even with `quiet`).
init=$(dmesg | sed -n 's/^\[ *\([0-9.]*\)\] Run .* as init process.*/\1/p' | head -n 1)
# Which service was the last to be ready, from the event log, for the record.
last=$(awk '$3 != "vmbench" && / is RUNNING$|[(]expected[)]: EXITED$/ && !seen[$3]++ { t = $1; n = $3 } END { print n, t }' /var/log/taskmaster.log)
echo "BENCH init=${init:-?} ready=$ready last-ready=$last"
tmctl poweroff || echo "BENCH tmctl poweroff failed"
exec sleep 600
