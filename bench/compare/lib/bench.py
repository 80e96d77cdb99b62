#!/usr/bin/env python3
"""Process-supervisor benchmark harness (entry point: bench/run.sh).

  bench.py run [options] ADAPTER...   measure each adapter in its own child process, print a
                                      Markdown table, write bench/out/bench-<time>-n<N>.json
  bench.py one [options] --json F A   measure one adapter (used by `run`)

Every process the harness starts descends from it (it is a child subreaper, so orphans come back
to it) and is stopped at the end of each measurement by SIGSTOP+SIGKILL to its own PID, then
reaped. Every temporary directory is /tmp/bench-*. Every wait is bounded by a deadline.
"""
import argparse
import ctypes
import datetime
import errno
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

LIB = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, LIB)
import adapters  # noqa: E402
import procfs  # noqa: E402
from adapters import Svc, SLEEP, PYTHON, clean_env  # noqa: E402

BENCH_DIR = os.path.dirname(LIB)
WRITER = os.path.join(LIB, "writer.py")
METRICS = ["cold_start", "restart", "rss", "idle_cpu", "status", "output", "reload", "stop_all"]
ALIASES = {"cold_start_ms": "cold_start", "restart_ms": "restart", "rss_kb": "rss",
           "idle_cpu_ms": "idle_cpu", "status_ms": "status", "output_mb_s": "output",
           "cold": "cold_start", "idle": "idle_cpu", "cpu": "idle_cpu"}
N_METRICS = ("cold_start", "rss", "idle_cpu", "status", "restart", "reload", "stop_all")


class Fail(Exception):
    pass


class Terminated(BaseException):
    pass


def log(msg):
    sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def on_term(signum, frame):
    raise Terminated(signum)


def set_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        log("warning: PR_SET_CHILD_SUBREAPER failed (errno %d); orphans may escape the sweep"
            % ctypes.get_errno())


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def sweep(timeout=15.0):
    """Stop every descendant of this process: SIGSTOP then SIGKILL, each by its own PID; reap."""
    me = os.getpid()
    deadline = time.monotonic() + timeout
    killed = set()
    while True:
        reap()
        snap = procfs.snapshot()
        victims = procfs.descendants(me, snap, include_root=False)
        if not victims:
            return len(killed)
        live = [p for p in victims if snap[p].state != "Z"]
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for p in live:
                try:
                    os.kill(p, sig)
                    killed.add(p)
                except ProcessLookupError:
                    pass
        if time.monotonic() > deadline:
            raise Fail("sweep: %d processes still present: %s" % (len(victims), victims[:10]))
        time.sleep(0.02)


def summarize(samples):
    s = sorted(samples)
    if not s:
        return None
    p90 = statistics.quantiles(s, n=10, method="inclusive")[8] if len(s) > 1 else s[0]
    return {"median": statistics.median(s), "p90": p90, "min": s[0], "max": s[-1], "n": len(s),
            "samples": [round(x, 3) for x in samples]}


class Session:
    """One supervisor instance in its own /tmp/bench-* directory."""

    def __init__(self, adapter, tag, keep=False):
        self.adapter = adapter
        self.keep = keep
        self.work = tempfile.mkdtemp(prefix="bench-%s-%s-" % (adapter.name, tag), dir="/tmp")
        os.chmod(self.work, 0o755)
        self.out = os.path.join(self.work, "supervisor.out")
        self.proc = None

    def prepare(self, services):
        self.adapter.prepare(self.work, services)
        # Backdate the generated config: it should look like a config that existed before boot
        # (runsvdir sleeps 1 s before its first scan when its directory was modified this second).
        old = time.time() - 60
        for d, dirs, files in os.walk(self.work):
            for x in files + dirs:
                os.utime(os.path.join(d, x), (old, old), follow_symlinks=False)
        os.utime(self.work, (old, old))

    def launch(self):
        with open(self.out, "wb") as out:
            t0 = time.monotonic()
            self.proc = self.adapter.launch(self.work, out)
        return t0

    @property
    def root(self):
        return self.proc.pid

    def check_alive(self, what):
        rc = self.proc.poll()
        if rc is not None:
            raise Fail("%s exited with status %s %s; its output: %s"
                       % (self.adapter.name, rc, what, self.tail()))

    def tail(self, n=400):
        try:
            with open(self.out, "rb") as f:
                data = f.read()[-n:]
            return repr(data.decode("utf-8", "replace").strip()) or "(none)"
        except OSError:
            return "(none)"

    def close(self):
        try:
            sweep()
            self.adapter.after_kill()
        finally:
            if self.proc is not None and self.proc.returncode is None:
                self.proc.poll()
            if self.keep:
                log("kept %s" % self.work)
            else:
                shutil.rmtree(self.work, ignore_errors=True)


# ----------------------------------------------------------------------------- measurements

def wait_services(sess, n, timeout, poll_s):
    """Poll /proc until N service processes (comm `sleep`) run under the supervisor."""
    watch = procfs.TreeWatch(sess.root, sess.adapter.stable_comms)
    deadline = time.monotonic() + timeout
    while True:
        found = watch.poll()
        now = time.monotonic()
        if len(found) >= n:
            return now
        sess.check_alive("before all services ran (%d/%d)" % (len(found), n))
        if now > deadline:
            raise Fail("timeout after %.0f s: %d/%d services running" % (timeout, len(found), n))
        time.sleep(poll_s)


def tree_usage(root, exclude=(), service_comm="sleep"):
    snap = procfs.snapshot()
    res = {}
    for p in procfs.descendants(root, snap):
        st = snap[p]
        if (st.comm == service_comm and p != root) or p in exclude or st.state == "Z":
            continue
        u = procfs.usage(p)
        if u is not None:
            res[p] = u
    return res


def usage_delta(u0, u1):
    keys = ("ticks", "sched_ns", "vcsw", "nvcsw")
    tot = dict.fromkeys(keys, 0)
    by_comm = {}
    new = lost = 0
    for p, b in u1.items():
        a = u0.get(p)
        if a is not None and a["starttime"] == b["starttime"]:
            d = {k: b[k] - a[k] for k in keys}
        else:
            d = {k: b[k] for k in keys}
            new += 1
        for k in keys:
            tot[k] += d[k]
        c = by_comm.setdefault(b["comm"], dict.fromkeys(keys, 0))
        for k in keys:
            c[k] += d[k]
    lost = sum(1 for p, a in u0.items() if p not in u1 or u1[p]["starttime"] != a["starttime"])
    return tot, by_comm, new, lost


def measure_rss(sess):
    u = tree_usage(sess.root)
    by_comm = {}
    for x in u.values():
        c = by_comm.setdefault(x["comm"], {"procs": 0, "rss_kb": 0, "pss_kb": 0})
        c["procs"] += 1
        c["rss_kb"] += x["rss_kb"]
        c["pss_kb"] += x["pss_kb"]
    return {"rss_kb": sum(x["rss_kb"] for x in u.values()),
            "pss_kb": sum(x["pss_kb"] for x in u.values()),
            "procs": len(u), "threads": sum(x["threads"] for x in u.values()), "by_comm": by_comm}


def measure_idle(sess, secs, n):
    u0 = tree_usage(sess.root)
    time.sleep(secs)
    sess.check_alive("during the idle window")
    u1 = tree_usage(sess.root)
    tot, by_comm, new, lost = usage_delta(u0, u1)
    running = len(procfs.TreeWatch(sess.root, sess.adapter.stable_comms).poll())
    for c in by_comm.values():
        c["cpu_ms"] = c.pop("ticks") * 1000.0 / procfs.CLK_TCK
        c["sched_ms"] = c.pop("sched_ns") / 1e6
    res = {"seconds": secs, "cpu_ms": tot["ticks"] * 1000.0 / procfs.CLK_TCK,
           "sched_cpu_ms": tot["sched_ns"] / 1e6, "vol_ctxsw": tot["vcsw"], "invol_ctxsw": tot["nvcsw"],
           "tree_procs_start": len(u0), "tree_procs_end": len(u1), "procs_new": new, "procs_gone": lost,
           "services_running_after": running, "by_comm": by_comm}
    if running < n:
        raise Fail("only %d/%d services running after the idle window" % (running, n))
    return res


def measure_status(sess, n, reps):
    argv = sess.adapter.status_argv(sess.work)
    samples, counts = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env=clean_env(), cwd=sess.work, timeout=30)
        except subprocess.TimeoutExpired:
            raise Fail("status command timed out after 30 s: %s" % " ".join(argv[:4]))
        samples.append((time.perf_counter() - t0) * 1000)
        text = r.stdout.decode("utf-8", "replace")
        counts.append(sess.adapter.count_running(text))
        if counts[-1] != n:
            raise Fail("status reported %d/%d running (rc %d); output head: %r"
                       % (counts[-1], n, r.returncode, text[:300]))
    res = summarize(samples)
    res["argv"] = argv[:4] + (["...(%d more)" % (len(argv) - 4)] if len(argv) > 4 else [])
    res["reported_running"] = counts[0]
    return res


def service_pids(root):
    snap = procfs.snapshot()
    m = {}
    for p in procfs.descendants(root, snap):
        if snap[p].comm == "sleep":
            name = procfs.env_value(p, "BENCH_SVC")
            if name:
                m[name] = p
    return m


def measure_restart(sess, names, trials, timeout=10.0, gap=0.1):
    """SIGKILL one service's process; time until a new `sleep` with the same BENCH_SVC runs.

    Fast path: poll the killed process's parent's children (all threads) every ~0.2 ms.
    Fallback (a supervisor that respawns from another process): incremental tree scan every 20 ms.
    """
    root = sess.root
    m = service_pids(root)
    missing = [x for x in names if x not in m]
    if missing:
        raise Fail("%d services not running before the restart test (e.g. %s)" % (len(missing), missing[0]))
    watch = procfs.TreeWatch(root, sess.adapter.stable_comms)
    samples, failures, detail = [], [], []
    for i in range(trials):
        name = names[(i * len(names)) // trials] if len(names) >= trials else names[i % len(names)]
        old = m[name]
        st = procfs.read_stat(old)
        if st is None:
            raise Fail("service %s (pid %d) vanished before it was killed" % (name, old))
        parent = st.ppid
        before = set(procfs.task_children(parent))
        known = set(watch.poll())
        rejected = set()
        needle = ("BENCH_SVC=%s" % name).encode()

        def match(c):
            comm = procfs.read_comm(c)
            if comm != "sleep":
                return False  # not exec'd yet (or gone): look again next round
            env = procfs.read_environ(c)
            if not env:
                return False  # comm is set before the new image's environ is readable: retry
            if needle in env.split(b"\0"):
                return True
            rejected.add(c)
            return False

        t0 = time.monotonic()
        os.kill(old, signal.SIGKILL)
        deadline = t0 + timeout
        next_full = t0 + 0.02
        new = None
        while new is None:
            for c in procfs.task_children(parent):
                if c not in before and c not in rejected and match(c):
                    new = c
                    break
            if new is not None:
                break
            now = time.monotonic()
            if now >= next_full:
                for c in watch.poll():
                    if c not in known and c != old and c not in rejected and match(c):
                        new = c
                        break
                next_full = time.monotonic() + 0.02
            if new is None:
                if now > deadline:
                    break
                time.sleep(0.0002)
        t1 = time.monotonic()
        if new is None:
            failures.append(name)
            sess.check_alive("during the restart test")
            if len(failures) >= 3:
                raise Fail("no new process within %.0f s after SIGKILL for %s" % (timeout, failures))
            continue
        samples.append((t1 - t0) * 1000)
        detail.append([name, old, new, parent])
        m[name] = new
        time.sleep(gap)
    res = summarize(samples)
    res["failures"] = failures
    res["kills"] = detail
    return res


def measure_reload(sess, n, reps=5):
    """The adapter's reload of an unchanged config, REPS times: wall time of the command, and
    every service must keep its pid (no process touched)."""
    argv = sess.adapter.reload_argv(sess.work)
    before = service_pids(sess.root)
    if len(before) < n:
        raise Fail("%d/%d services running before the reload test" % (len(before), n))
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env=clean_env(), cwd=sess.work, timeout=60)
        except subprocess.TimeoutExpired:
            raise Fail("reload command timed out after 60 s: %s" % " ".join(argv[:4]))
        samples.append((time.perf_counter() - t0) * 1000)
        if r.returncode != 0:
            raise Fail("reload failed (rc %d): %r" % (r.returncode, r.stdout[:300]))
    after = service_pids(sess.root)
    touched = sorted(k for k in before if after.get(k) != before[k])
    if touched:
        raise Fail("reload touched %d services (e.g. %s)" % (len(touched), touched[0]))
    res = summarize(samples)
    res["argv"] = argv[:4]
    res["touched"] = 0
    return res


def measure_stop_all(sess, n, timeout=120.0, poll_s=0.0005):
    """From the adapter's stop command until the last service process is reaped (its /proc
    entry is gone: a zombie still has one). Run last: it ends the session."""
    pids = list(service_pids(sess.root).values())
    if len(pids) < n:
        raise Fail("%d/%d services running before the stop test" % (len(pids), n))
    argv = sess.adapter.stop_argv(sess.work, sess.root, pids)
    left = set(pids)
    u0 = procfs.usage(sess.root)
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=clean_env(), cwd=sess.work)
    while left:
        left = {x for x in left if os.path.exists("/proc/%d" % x)}
        if not left:
            break
        if time.perf_counter() - t0 > timeout:
            raise Fail("%d/%d services still there %.0f s after the stop command" % (len(left), len(pids), timeout))
        time.sleep(poll_s)
    ms = (time.perf_counter() - t0) * 1000
    # The supervisor process's own CPU (all its threads; a zombie's still counts) meanwhile.
    u1 = procfs.usage(sess.root)
    cpu = (u1["sched_ns"] - u0["sched_ns"]) / 1e6 if (u0 and u1) else None
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    return {"ms": ms, "supervisor_cpu_ms": cpu, "services": len(pids), "argv": argv[:4]}


def measure_spawn(trials, gap=0.05):
    """Spawn only (the old restart floor): posix_spawn one sleep, time until /proc shows it exec'd as `sleep`."""
    env = clean_env({"BENCH_SVC": "spawn"})
    samples = []
    for _ in range(trials):
        t0 = time.monotonic()
        pid = os.posix_spawn(SLEEP, ["sleep", "100000"], env)
        try:
            while procfs.read_comm(pid) != "sleep":
                if time.monotonic() - t0 > 5:
                    raise Fail("spawned sleep did not show up in /proc")
                time.sleep(0.0002)
            samples.append((time.monotonic() - t0) * 1000)
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        time.sleep(gap)
    return summarize(samples)


def log_bytes(logdir):
    total = 0
    for e in os.scandir(logdir):
        if e.name == "current" or e.name.startswith("@") or e.name.endswith(".log"):
            try:
                total += e.stat().st_size
            except OSError:
                pass
    return total


def measure_output(ad, total, timeout, ready_timeout, keep):
    sess = Session(ad, "out", keep)
    try:
        work = sess.work
        logdir = os.path.join(work, "logs", "out")
        os.makedirs(logdir)
        fifo = os.path.join(work, "go.fifo")
        os.mkfifo(fifo)
        stamp = os.path.join(work, "writer.stamp")
        env = {"BENCH_SVC": "out", "BENCH_GO_FIFO": fifo, "BENCH_STAMP": stamp,
               "BENCH_BYTES": str(total), "BENCH_LINE": "128"}
        sess.prepare([Svc("out", [PYTHON, "-S", WRITER], env, logdir)])
        sess.launch()
        deadline = time.monotonic() + ready_timeout
        fd = None
        while fd is None:  # wait for the logger processes and for the writer to open the FIFO
            sess.check_alive("before the writer started")
            snap = procfs.snapshot()
            comms = {snap[p].comm for p in procfs.descendants(sess.root, snap)}
            if all(c in comms for c in ad.logger_comms):
                try:
                    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError as e:
                    if e.errno != errno.ENXIO:
                        raise
            if fd is None:
                if time.monotonic() > deadline:
                    raise Fail("writer/logger not ready after %.0f s (tree: %s)" % (ready_timeout, sorted(comms)))
                time.sleep(0.02)
        time.sleep(0.3)
        snap = procfs.snapshot()
        writer = [p for p in procfs.descendants(sess.root, snap) if procfs.env_value(p, "BENCH_SVC") == "out"]
        if len(writer) != 1:
            raise Fail("expected one writer process, found %s" % writer)
        writer = writer[0]
        u0 = tree_usage(sess.root, exclude={writer})
        w0 = procfs.usage(writer)
        os.write(fd, b"g")
        os.close(fd)
        deadline = time.monotonic() + timeout
        while True:
            size = log_bytes(logdir)
            if size >= total:
                t_end = time.monotonic()
                break
            if time.monotonic() > deadline:
                raise Fail("only %d of %d bytes reached the log after %.0f s" % (size, total, timeout))
            sess.check_alive("during the output test")
            time.sleep(0.005)
        u1 = tree_usage(sess.root, exclude={writer})
        w1 = procfs.usage(writer)
        deadline = time.monotonic() + 10
        while not os.path.exists(stamp):
            if time.monotonic() > deadline:
                raise Fail("writer did not record its timestamps")
            time.sleep(0.01)
        with open(stamp) as f:
            ts, tw = (float(x) for x in f.read().split())
        time.sleep(0.05)
        final = log_bytes(logdir)
        tot, by_comm, _, _ = usage_delta(u0, u1)
        mib = total / float(1 << 20)
        res = {"mib_s": mib / (t_end - ts), "seconds": t_end - ts, "writer_done_s": tw - ts,
               "tree_cpu_s": tot["ticks"] / float(procfs.CLK_TCK), "tree_sched_cpu_s": tot["sched_ns"] / 1e9,
               "tree_by_comm": {k: round(v["ticks"] / float(procfs.CLK_TCK), 3) for k, v in by_comm.items()},
               "writer_cpu_s": ((w1["ticks"] - w0["ticks"]) / float(procfs.CLK_TCK)) if (w0 and w1) else None,
               "bytes": total, "bytes_logged": final}
        if final != total:
            res["warning"] = "log holds %d bytes, expected %d" % (final, total)
        return res
    finally:
        sess.close()


# ----------------------------------------------------------------------------- one adapter

def overrides(ad, method):
    """Whether the adapter has a command of its own for METHOD (the base class's answers None).
    Asked of the class: an adapter builds its argv from its session's files, not there yet."""
    return getattr(type(ad), method) is not getattr(adapters.Adapter, method)


def cmd_one(a):
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_term)
    set_subreaper()
    ad = adapters.get(a.adapter)
    if ad is None:
        log("unknown adapter %s" % a.adapter)
        return 2
    reason = ad.check()
    if reason:
        log("%s: unavailable: %s" % (ad.name, reason))
        return 2
    want = set(a.only)
    n = a.n
    floor = ad.name == "floor"
    load0 = (cpu_stat(), os.times(), time.monotonic())
    res = {"adapter": ad.name, "version": ad.version(), "n": n, "metrics": {}, "errors": {}, "started": now_iso(),
           "loadavg_start": os.getloadavg()}

    def save():
        res["loadavg_end"] = os.getloadavg()
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(res, f, indent=1)
        os.rename(tmp, a.json)

    def record(metric, fn, *args):
        log("[%s] %s ..." % (ad.name, metric))
        try:
            r = fn(*args)
            res["metrics"][metric] = r
            log("[%s] %s: %s" % (ad.name, metric, brief(metric, r)))
        except Fail as e:
            res["errors"][metric] = str(e)
            log("[%s] %s FAILED: %s" % (ad.name, metric, e))
        except Exception as e:  # a harness or adapter bug must not take the other metrics down
            res["errors"][metric] = "internal error: %s: %s" % (type(e).__name__, e)
            log("[%s] %s FAILED (internal): %s" % (ad.name, metric, traceback.format_exc()))
        save()

    names = ["svc-%04d" % i for i in range(n)]
    try:
        nwant = [m for m in N_METRICS if m in want and not (floor and m in ("rss", "idle_cpu", "status", "restart"))]
        if not overrides(ad, "reload_argv") and "reload" in nwant:
            nwant.remove("reload")
        if not overrides(ad, "status_argv") and "status" in nwant:
            nwant.remove("status")
        if nwant:
            reps = a.cold_reps if "cold_start" in want else 1
            cold = []
            cold_timeout = a.cold_timeout or max(30.0, n * 0.06)
            for rep in range(reps):
                sess = Session(ad, "n%d" % n, a.keep)
                try:
                    sess.prepare([Svc(x, [SLEEP, "100000"], {"BENCH_SVC": x}) for x in names])
                    t0 = sess.launch()
                    t1 = wait_services(sess, n, cold_timeout, a.poll_ms / 1000.0)
                    cold.append((t1 - t0) * 1000)
                    log("[%s] cold_start N=%d rep %d/%d: %.1f ms" % (ad.name, n, rep + 1, reps, cold[-1]))
                    if "cold_start" in want:
                        res["metrics"]["cold_start"] = dict(summarize(cold), timeout_s=cold_timeout)
                        save()
                    if rep == reps - 1:
                        time.sleep(a.settle)
                        if "rss" in nwant:
                            record("rss", measure_rss, sess)
                        if "idle_cpu" in nwant:
                            record("idle_cpu", measure_idle, sess, a.idle_s, n)
                        if "status" in nwant:
                            record("status", measure_status, sess, n, a.status_reps)
                        if "restart" in nwant:
                            record("restart", measure_restart, sess, names, a.restart_trials)
                        if "reload" in nwant:
                            time.sleep(a.settle)
                            record("reload", measure_reload, sess, n)
                        if "stop_all" in nwant:
                            time.sleep(a.settle)
                            record("stop_all", measure_stop_all, sess, n)
                except Exception as e:
                    res["errors"]["cold_start"] = str(e) if isinstance(e, Fail) else "internal error: %r" % e
                    log("[%s] cold_start FAILED: %s" % (ad.name, e if isinstance(e, Fail) else traceback.format_exc()))
                    break
                finally:
                    note = ad.notes(sess.work)
                    if note and note not in res.setdefault("notes", []):
                        res["notes"].append(note)
                    sess.close()
            save()
        if floor and "restart" in want:
            # Not a restart: no kill, no exit, no reap (see the respawner adapter for those).
            record("spawn", measure_spawn, a.restart_trials)

            def loop_restart():
                sess = Session(ad, "loop", a.keep)
                try:
                    with open(sess.out, "wb") as out:
                        sess.proc = subprocess.Popen(
                            ["/bin/bash", "-c", "while :; do %s 100000; done" % SLEEP], cwd=sess.work,
                            env=clean_env({"BENCH_SVC": "loop"}), stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT)
                    wait_services(sess, 1, 10, 0.005)
                    return measure_restart(sess, ["loop"], a.restart_trials)
                finally:
                    sess.close()
            record("restart_loop", loop_restart)
        if "output" in want and ad.has_output:
            samples = []
            for rep in range(a.output_reps):
                record("output", measure_output, ad, a.output_mib << 20, a.output_timeout, a.cold_timeout or 30.0,
                       a.keep)
                if "output" in res["metrics"]:
                    samples.append(res["metrics"].pop("output"))
                if "output" in res["errors"]:
                    break
            if samples:
                samples.sort(key=lambda r: r["mib_s"])
                med = dict(samples[len(samples) // 2])
                med["reps"] = [{k: r[k] for k in ("mib_s", "seconds", "tree_cpu_s", "tree_sched_cpu_s",
                                                  "writer_cpu_s", "bytes_logged")} for r in samples]
                res["metrics"]["output"] = med
            save()
    except Terminated as e:
        res["errors"]["_aborted"] = "terminated by signal %d (adapter time limit, or the run was interrupted)" % e.args[0]
        log("[%s] terminated; cleaning up" % ad.name)
        save()
        sweep()
        return 3
    finally:
        sweep()
    res["finished"] = now_iso()
    res["machine_load"] = machine_load(load0)
    save()
    return 1 if res["errors"] else 0


def cpu_stat():
    """(busy, steal) seconds summed over all CPUs, from the first line of /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice
    busy = v[0] + v[1] + v[2] + v[5] + v[6]
    return busy / float(procfs.CLK_TCK), v[7] / float(procfs.CLK_TCK)


def machine_load(start):
    """How busy the machine was with work that is not this harness's process tree (noise gauge)."""
    (b0, st0), t0, w0 = start
    (b1, st1), t1, w1 = cpu_stat(), os.times(), time.monotonic()
    ours = sum(t1[i] - t0[i] for i in range(4))  # user, system, children_user, children_system
    cap = (w1 - w0) * (os.cpu_count() or 1)
    other = max(0.0, (b1 - b0) - ours)
    return {"wall_s": round(w1 - w0, 1), "busy_cpu_s": round(b1 - b0, 2), "ours_cpu_s": round(ours, 2),
            "other_cpu_s": round(other, 2), "other_pct_of_machine": round(100.0 * other / cap, 1) if cap else None,
            "steal_s": round(st1 - st0, 2)}


def brief(metric, r):
    if metric in ("restart", "restart_loop", "spawn", "status"):
        return "median %.2f ms, p90 %.2f ms (n=%d)" % (r["median"], r["p90"], r["n"])
    if metric == "rss":
        return "%d kB RSS, %d kB PSS in %d processes" % (r["rss_kb"], r["pss_kb"], r["procs"])
    if metric == "idle_cpu":
        return "%.0f ms CPU (sched %.1f ms), %d voluntary ctx switches / %g s" % (
            r["cpu_ms"], r["sched_cpu_ms"], r["vol_ctxsw"], r["seconds"])
    if metric == "output":
        return "%.1f MiB/s, tree CPU %.2f s" % (r["mib_s"], r["tree_cpu_s"])
    return str(r)[:200]


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------- orchestrator

def parse_only(values):
    out = []
    for v in values or []:
        for x in v.split(","):
            x = x.strip()
            if not x:
                continue
            x = ALIASES.get(x, x)
            if x not in METRICS:
                raise SystemExit("bench: unknown metric %r (known: %s)" % (x, ", ".join(METRICS)))
            out.append(x)
    return out or list(METRICS)


def common_args(p):
    p.add_argument("--n", type=int, default=200, help="number of services (default 200)")
    p.add_argument("--only", action="append", help="metric(s) to run, comma-separated; repeatable")
    p.add_argument("--cold-reps", type=int, default=3, help="cold-start repetitions (median)")
    p.add_argument("--cold-timeout", type=float, default=0, help="s; default max(30, 0.06*N)")
    p.add_argument("--poll-ms", type=float, default=5.0, help="/proc poll period during cold start")
    p.add_argument("--settle", type=float, default=2.0, help="s to wait after cold start")
    p.add_argument("--idle-s", type=float, default=20.0)
    p.add_argument("--status-reps", type=int, default=10)
    p.add_argument("--restart-trials", type=int, default=30)
    p.add_argument("--output-mib", type=int, default=512)
    p.add_argument("--output-reps", type=int, default=3)
    p.add_argument("--output-timeout", type=float, default=120.0)
    p.add_argument("--keep", action="store_true", help="keep /tmp/bench-* dirs for inspection")


def forward_args(a):
    out = ["--n", str(a.n), "--cold-reps", str(a.cold_reps), "--cold-timeout", str(a.cold_timeout),
           "--poll-ms", str(a.poll_ms), "--settle", str(a.settle), "--idle-s", str(a.idle_s),
           "--status-reps", str(a.status_reps), "--restart-trials", str(a.restart_trials),
           "--output-mib", str(a.output_mib), "--output-reps", str(a.output_reps),
           "--output-timeout", str(a.output_timeout), "--only", ",".join(a.only)]
    return out + (["--keep"] if a.keep else [])


def cmd_run(a):
    unknown = [x for x in a.adapters if adapters.get(x) is None]
    if unknown:
        sys.stderr.write("bench: unknown adapter(s) %s; known: %s\n" % (", ".join(unknown), ", ".join(adapters.ADAPTERS)))
        return 2
    unavailable = {}
    for name in a.adapters:
        reason = adapters.get(name).check()
        if reason:
            unavailable[name] = reason
            sys.stderr.write("bench: %s: unavailable: %s\n" % (name, reason))
    todo = [x for x in a.adapters if x not in unavailable]
    if not todo:
        sys.stderr.write("bench: no runnable adapter; nothing measured\n")
        return 2
    set_subreaper()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_term)
    # $BENCH_OUT, else out/ beside the harness when writable, else ./bench-out
    outdir = os.environ.get("BENCH_OUT") or os.path.join(BENCH_DIR, "out")
    if not os.environ.get("BENCH_OUT") and not os.access(BENCH_DIR, os.W_OK):
        outdir = os.path.join(os.getcwd(), "bench-out")
    os.makedirs(outdir, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    meta = {"started": now_iso(), "argv": sys.argv[1:], "n": a.n, "only": a.only, "host": platform.node(),
            "kernel": platform.release(), "cpus": os.cpu_count(), "mem_total_kb": meminfo_total(),
            "python": platform.python_version(), "loadavg_start": os.getloadavg(),
            "settings": vars(a) | {"adapters": a.adapters}}
    results = {}
    t_all = time.monotonic()
    rc = 0
    interrupted = False
    for name in todo:
        jf = os.path.join(outdir, ".part-%s-%s.json" % (stamp, name))
        cmd = [sys.executable, os.path.abspath(__file__), "one", "--json", jf] + forward_args(a) + [name]
        log("=== %s ===" % name)
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=sys.stderr)
        crc = None
        try:
            crc = p.wait(timeout=a.adapter_timeout)
        except subprocess.TimeoutExpired:
            log("%s: adapter time limit (%d s) reached; stopping it" % (name, a.adapter_timeout))
            crc = stop_child(p)
        except Terminated as e:
            log("bench: signal %d; stopping %s and cleaning up" % (e.args[0], name))
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            crc = stop_child(p)
            interrupted = True
        sweep()
        try:
            with open(jf) as f:
                results[name] = json.load(f)
            os.unlink(jf)
        except (OSError, ValueError):
            results[name] = {"adapter": name, "metrics": {}, "errors": {"_aborted": "no result (exit %s)" % crc}}
        results[name]["wall_s"] = round(time.monotonic() - t0, 1)
        if crc != 0:
            rc = 1
        if interrupted:
            rc = 130
            break
    meta["finished"] = now_iso()
    meta["wall_s"] = round(time.monotonic() - t_all, 1)
    meta["loadavg_end"] = os.getloadavg()
    meta["unavailable"] = unavailable
    doc = {"meta": meta, "results": results}
    path = os.path.join(outdir, "bench-%s-n%d.json" % (stamp, a.n))
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    sys.stdout.write(render(doc, a))
    sys.stdout.write("\nJSON: %s\n" % os.path.relpath(path, os.getcwd()))
    if unavailable:
        for k, v in unavailable.items():
            sys.stderr.write("bench: %s: unavailable: %s\n" % (k, v))
        return 130 if interrupted else 2
    return rc


def stop_child(p):
    """SIGTERM the adapter child (it sweeps its own tree), SIGKILL it after 30 s; both by its PID."""
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def meminfo_total():
    try:
        with open("/proc/meminfo") as f:
            return int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        return None


def fmt(v, digits=1):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if isinstance(v, float):
        return ("%%.%df" % digits) % v
    return str(v)


def render(doc, a):
    res = doc["results"]
    names = list(res)
    n = doc["meta"]["n"]

    def g(name, metric, key, scale=1.0):
        r = res[name]
        if metric in r.get("errors", {}):
            return "ERR"
        m = r.get("metrics", {}).get(metric)
        if m is None or m.get(key) is None:
            return None
        v = m[key]
        return v * scale if isinstance(v, (int, float)) and scale != 1.0 else v

    rows = [
        ("cold_start_ms (N=%d, median of %d)" % (n, a.cold_reps), "cold_start", "median", 1),
        ("restart_ms median (%d kills)" % a.restart_trials, "restart", "median", 2),
        ("restart_ms p90", "restart", "p90", 2),
        ("restart_ms median, bash respawn loop", "restart_loop", "median", 2),
        ("spawn_ms median, posix_spawn from the measurer (no kill, exit or reap)", "spawn", "median", 2),
        ("rss_kb, supervision tree (N=%d)" % n, "rss", "rss_kb", 0),
        ("pss_kb, supervision tree", "rss", "pss_kb", 0),
        ("supervision-tree processes", "rss", "procs", 0),
        ("idle_cpu_ms / %gs (utime+stime)" % a.idle_s, "idle_cpu", "cpu_ms", 0),
        ("idle_cpu_ms / %gs (schedstat)" % a.idle_s, "idle_cpu", "sched_cpu_ms", 1),
        ("idle voluntary ctx switches / %gs" % a.idle_s, "idle_cpu", "vol_ctxsw", 0),
        ("idle involuntary ctx switches / %gs" % a.idle_s, "idle_cpu", "invol_ctxsw", 0),
        ("status_ms (median of %d)" % a.status_reps, "status", "median", 1),
        ("reload_ms, unchanged config, no process touched (median of 5)", "reload", "median", 1),
        ("stop_all_ms (stop command → last service reaped)", "stop_all", "ms", 1),
        ("stop_all: the supervisor process's CPU ms meanwhile (schedstat, all its threads)", "stop_all", "supervisor_cpu_ms", 1),
        ("output_mb_s (%d MiB, MiB/s)" % a.output_mib, "output", "mib_s", 0),
        ("output: supervision-tree CPU s", "output", "tree_cpu_s", 2),
        ("output: writer CPU s", "output", "writer_cpu_s", 2),
    ]
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for label, metric, key, digits in rows:
        if metric not in a.only and not (metric in ("restart_loop", "spawn") and "restart" in a.only):
            continue
        vals = []
        for nm in names:
            v = g(nm, metric, key)
            if metric == "output" and key == "tree_cpu_s" and nm == "floor":
                v = None
            if isinstance(v, float) and digits == 0:
                v = int(round(v))
            vals.append(fmt(v, digits))
        if all(v == "—" for v in vals):
            continue
        lines.append("| %s | %s |" % (label, " | ".join(vals)))
    out = "\n".join(lines) + "\n"
    errs = [(nm, m, e) for nm in names for m, e in sorted(res[nm].get("errors", {}).items())]
    if errs:
        out += "\nErrors:\n" + "".join("- %s / %s: %s\n" % (nm, m, e[:400]) for nm, m, e in errs)
    loads = ["%s %s%%" % (nm, res[nm]["machine_load"]["other_pct_of_machine"]) for nm in names
             if res[nm].get("machine_load")]
    if loads:
        out += "\nOther load on the machine while each adapter ran (CPU not used by the harness tree, % of all CPUs): " + ", ".join(loads) + "\n"
    notes = ["%s: %s" % (nm, "; ".join(res[nm]["notes"])) for nm in names if res[nm].get("notes")]
    if notes:
        out += "How they ran: " + ". ".join(notes) + "\n"
    out += "Versions: " + "; ".join("%s = %s" % (nm, res[nm].get("version", "?")) for nm in names) + "\n"
    out += ("Host: %s, kernel %s, %s CPUs; load avg %.2f at start, %.2f at end; wall %.0f s\n"
            % (doc["meta"]["host"], doc["meta"]["kernel"], doc["meta"]["cpus"], doc["meta"]["loadavg_start"][0],
               doc["meta"]["loadavg_end"][0], doc["meta"]["wall_s"]))
    return out


def main():
    ap = argparse.ArgumentParser(prog="bench")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    common_args(r)
    r.add_argument("--adapter-timeout", type=int, default=420, help="s per adapter (hard limit)")
    r.add_argument("adapters", nargs="+")
    o = sub.add_parser("one")
    common_args(o)
    o.add_argument("--json", required=True)
    o.add_argument("adapter")
    a = ap.parse_args()
    a.only = parse_only(a.only)
    if a.cmd == "run":
        return cmd_run(a)
    return cmd_one(a)


if __name__ == "__main__":
    sys.exit(main())
