"""One adapter per supervisor. An adapter only knows how to configure, launch and query its
supervisor; every measurement (timing, /proc accounting, teardown by PID) lives in bench.py, so
all supervisors are measured by exactly the same code.

Adapter interface (see README.md):
  name               column name
  stable_comms       comm names of the supervision tree's own long-lived processes
  logger_comms       comm names that must be present before the output test may start
  check()            None when usable, else a one-line reason (missing binary, ...)
  version()          version string for the report
  prepare(work, services)   write config for the given services into the work dir
  launch(work, out)  start the supervisor in the foreground; returns a subprocess.Popen
  status_argv(work)  argv of one full status query of all services (None: not applicable)
  count_running(txt) number of services that the status output reports as running
"""
import os
import shlex
import shutil
import subprocess

SLEEP = "/usr/bin/sleep"
PYTHON = "/usr/bin/python3"
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def clean_env(extra=None):
    env = {"PATH": CLEAN_PATH, "LANG": "C.UTF-8", "HOME": "/root"}
    if extra:
        env.update(extra)
    return env


class Svc:
    """A service: NAME, literal ARGV, extra ENV; LOGDIR set = capture stdout into that directory."""

    def __init__(self, name, argv, env, logdir=None):
        self.name, self.argv, self.env, self.logdir = name, list(argv), dict(env), logdir


def _write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def _dpkg_version(pkg):
    try:
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "?"
    except Exception:
        return "?"


def _sh_run_script(svc):
    lines = ["#!/bin/sh"]
    for k, v in svc.env.items():
        lines.append("export %s=%s" % (k, shlex.quote(v)))
    lines.append("exec " + " ".join(shlex.quote(a) for a in svc.argv))
    return "\n".join(lines) + "\n"


def _own_cgroup_dir():
    """This process's cgroup v2 directory (the one supervisors started here run in), or None."""
    try:
        with open("/proc/self/cgroup") as f:
            rel = next((l.split("::", 1)[1].strip() for l in f if l.startswith("0::")), None)
        with open("/proc/self/mounts") as f:
            mounts = [l.split()[1] for l in f if l.split()[2:3] == ["cgroup2"]]
    except OSError:
        return None
    if rel is None or not mounts:
        return None
    return os.path.join(mounts[0], rel.lstrip("/"))


class Adapter:
    name = "?"
    stable_comms = ()
    logger_comms = ()
    has_output = True  # False: runs no output test (it cannot capture a service's output)

    def check(self):
        return None

    def version(self):
        return "?"

    def prepare(self, work, services):
        raise NotImplementedError

    def launch(self, work, out):
        raise NotImplementedError

    def status_argv(self, work):
        return None

    def count_running(self, text):
        return 0

    def stop_argv(self, work, root, pids):
        """The one command that stops every service (root: the supervisor's pid; pids: the
        services' pids)."""
        return None

    def reload_argv(self, work):
        """The command that re-reads an unchanged configuration; None: the supervisor has none."""
        return None

    def notes(self, work):
        """What the supervisor said about how it ran that bears on the figures (read from its
        work directory after a run), or None."""
        return None

    def after_kill(self):
        """Called once the session's processes are killed (SIGKILL, see bench.py `sweep`):
        undo what the kill left behind, so that the next start is as cold as a boot."""
        return None

    def _popen(self, argv, work, out):
        return subprocess.Popen(argv, cwd=work, env=clean_env(), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)


class Supervisord(Adapter):
    name = "supervisord"
    stable_comms = ("supervisord",)
    BIN = "/usr/bin/supervisord"
    CTL = "/usr/bin/supervisorctl"

    def check(self):
        for b in (self.BIN, self.CTL):
            if not os.access(b, os.X_OK):
                return "%s not found (apt-get install supervisor)" % b
        return None

    def version(self):
        try:
            v = subprocess.run([self.BIN, "--version"], capture_output=True, text=True,
                               timeout=20).stdout.strip()
        except Exception:
            v = "?"
        return "supervisord %s (deb %s)" % (v, _dpkg_version("supervisor"))

    def conf(self, work):
        return os.path.join(work, "supervisord.conf")

    def prepare(self, work, services):
        out = [
            "[unix_http_server]", "file=%s/supervisor.sock" % work, "chmod=0700", "",
            "[supervisord]", "nodaemon=true", "logfile=%s/supervisord.log" % work,
            "logfile_maxbytes=0", "pidfile=%s/supervisord.pid" % work, "childlogdir=%s" % work, "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
            "[supervisorctl]", "serverurl=unix://%s/supervisor.sock" % work, "",
        ]
        for s in services:
            out.append("[program:%s]" % s.name)
            out.append("command=" + " ".join(shlex.quote(a) for a in s.argv))
            out.append("environment=" + ",".join('%s="%s"' % kv for kv in s.env.items()))
            out.append("autostart=true")
            if s.logdir:
                out += ["autorestart=false",
                        "stdout_logfile=%s/out.log" % s.logdir,
                        "stdout_logfile_maxbytes=0", "stdout_logfile_backups=0",
                        "stderr_logfile=NONE"]
            else:
                out += ["autorestart=true", "stdout_logfile=NONE", "stderr_logfile=NONE"]
            out.append("")
        _write(self.conf(work), "\n".join(out))

    def launch(self, work, out):
        return self._popen([self.BIN, "-n", "-c", self.conf(work)], work, out)

    def status_argv(self, work):
        return [self.CTL, "-c", self.conf(work), "status"]

    def stop_argv(self, work, root, pids):
        return [self.CTL, "-c", self.conf(work), "shutdown"]

    def reload_argv(self, work):
        # reread + apply: unchanged programs are not touched
        return [self.CTL, "-c", self.conf(work), "update"]

    def count_running(self, text):
        return sum(1 for l in text.splitlines() if " RUNNING " in l)


class Runit(Adapter):
    name = "runit"
    stable_comms = ("runsvdir", "runsv")
    logger_comms = ("svlogd",)

    def check(self):
        for b in ("/usr/bin/runsvdir", "/usr/bin/runsv", "/usr/bin/sv", "/usr/bin/svlogd"):
            if not os.access(b, os.X_OK):
                return "%s not found (apt-get install runit)" % b
        return None

    def version(self):
        return "runit %s (deb)" % _dpkg_version("runit")

    def svdir(self, work):
        return os.path.join(work, "service")

    def prepare(self, work, services):
        base = self.svdir(work)
        os.makedirs(base, exist_ok=True)
        for s in services:
            d = os.path.join(base, s.name)
            os.makedirs(d)
            _write(os.path.join(d, "run"), _sh_run_script(s), 0o755)
            if s.logdir:
                os.makedirs(os.path.join(d, "log"))
                os.makedirs(s.logdir, exist_ok=True)
                _write(os.path.join(s.logdir, "config"), "s0\n")  # s0: never rotate
                _write(os.path.join(d, "log", "run"),
                       "#!/bin/sh\nexec /usr/bin/svlogd %s\n" % shlex.quote(s.logdir), 0o755)

    def launch(self, work, out):
        return self._popen(["/usr/bin/runsvdir", "-P", self.svdir(work)], work, out)

    def status_argv(self, work):
        base = self.svdir(work)
        return ["/usr/bin/sv", "status"] + [os.path.join(base, d) for d in sorted(os.listdir(base))]

    def stop_argv(self, work, root, pids):
        # runsvdir on SIGHUP sends TERM to every runsv, which stops its service and exits
        return ["/bin/kill", "-HUP", str(root)]

    def count_running(self, text):
        return sum(1 for l in text.splitlines() if l.startswith("run: "))


class S6(Adapter):
    name = "s6"
    stable_comms = ("s6-svscan", "s6-supervise")
    logger_comms = ("s6-log",)
    LOG_MAX = 268435455  # s6-log's largest accepted file size; rotation cannot be disabled

    def check(self):
        for b in ("/usr/bin/s6-svscan", "/usr/bin/s6-supervise", "/usr/bin/s6-svstat", "/usr/bin/s6-log"):
            if not os.access(b, os.X_OK):
                return "%s not found (apt-get install s6)" % b
        return None

    def version(self):
        return "s6 %s (deb)" % _dpkg_version("s6")

    def scandir(self, work):
        return os.path.join(work, "scan")

    def prepare(self, work, services):
        base = self.scandir(work)
        os.makedirs(base, exist_ok=True)
        self.nsup = 0
        for s in services:
            d = os.path.join(base, s.name)
            os.makedirs(d)
            _write(os.path.join(d, "run"), _sh_run_script(s), 0o755)
            self.nsup += 1
            if s.logdir:
                os.makedirs(os.path.join(d, "log"))
                _write(os.path.join(d, "log", "run"),
                       "#!/bin/sh\nexec /usr/bin/s6-log s%d %s\n" % (self.LOG_MAX, shlex.quote(s.logdir)),
                       0o755)
                self.nsup += 1

    def launch(self, work, out):
        argv = ["/usr/bin/s6-svscan"]
        if getattr(self, "nsup", 0) >= 400:  # s6-svscan 2.11's default -c (max services) is 500
            argv += ["-c", str(2 * self.nsup + 64)]
        return self._popen(argv + [self.scandir(work)], work, out)

    def status_argv(self, work):
        return ["/bin/sh", "-c", 'for d in "$1"/*; do /usr/bin/s6-svstat "$d"; done', "sh",
                self.scandir(work)]

    def count_running(self, text):
        return sum(1 for l in text.splitlines() if l.startswith("up "))

    def stop_argv(self, work, root, pids):
        # s6-svscan -t: bring every service down, then exit
        return ["/usr/bin/s6-svscanctl", "-t", self.scandir(work)]


def _kdl(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


class Taskmaster(Adapter):
    """Written against shared/SPEC.md (taskmasterd + tmctl, KDL service files)."""
    name = "taskmaster"
    stable_comms = ("taskmasterd",)

    def __init__(self):
        self.bindir = os.environ.get("TASKMASTER_BIN_DIR", os.path.join(os.getcwd(), "target", "release"))
        self.daemon = os.path.join(self.bindir, "taskmasterd")
        self.ctl = os.path.join(self.bindir, "tmctl")

    def check(self):
        missing = [b for b in (self.daemon, self.ctl) if not (os.path.isfile(b) and os.access(b, os.X_OK))]
        if missing:
            return ("binary not found: %s (set TASKMASTER_BIN_DIR, or run `cargo build --release` "
                    "in the project checkout)" % ", ".join(missing))
        return None

    def version(self):
        try:
            st = os.stat(self.daemon)
            import hashlib
            h = hashlib.sha256()
            with open(self.daemon, "rb") as f:
                for blk in iter(lambda: f.read(1 << 20), b""):
                    h.update(blk)
            return "taskmasterd %s (sha256 %s, %d bytes)" % (self.bindir, h.hexdigest()[:12], st.st_size)
        except OSError:
            return "?"

    def confdir(self, work):
        return os.path.join(work, "services.d")

    def sock(self, work):
        return os.path.join(work, "tm.sock")

    def prepare(self, work, services):
        d = self.confdir(work)
        os.makedirs(d)
        os.chmod(d, 0o755)
        out = []
        for s in services:
            out.append("service %s {" % _kdl(s.name))
            out.append("    cmd " + " ".join(_kdl(a) for a in s.argv))
            if s.logdir:
                os.makedirs(s.logdir, exist_ok=True)
                out.append('    autorestart "never"')
                out.append("    stdout %s" % _kdl(os.path.join(s.logdir, "out.log")))
            else:
                out.append('    autorestart "always"')
                out.append('    stdout "discard"')
            out.append('    stderr "discard"')
            if s.env:
                out.append("    env {")
                for k, v in s.env.items():
                    out.append("        %s %s" % (k, _kdl(v)))
                out.append("    }")
            out.append("}")
        _write(os.path.join(d, "bench.kdl"), "\n".join(out) + "\n", 0o644)

    def launch(self, work, out):
        return self._popen([self.daemon, "-c", self.confdir(work), "-s", self.sock(work),
                            "-l", os.path.join(work, "taskmaster.log"), "--no-syslog"], work, out)

    def status_argv(self, work):
        return [self.ctl, "-s", self.sock(work), "status"]

    def stop_argv(self, work, root, pids):
        return [self.ctl, "-s", self.sock(work), "shutdown"]

    def reload_argv(self, work):
        return [self.ctl, "-s", self.sock(work), "reload"]

    def count_running(self, text):
        return sum(1 for l in text.splitlines() if "RUNNING" in l.split())

    def after_kill(self):
        # A taskmasterd killed by SIGKILL leaves its (empty) per-instance cgroups, which the
        # next one removes before its first spawn (`Cgroups::remove_empty`): 2,000 rmdirs,
        # about 100 ms, in the next cold start of 1,000, a cost that a boot never has (and
        # that a clean `tmctl shutdown` does not leave). Removed here, outside any timing.
        top = _own_cgroup_dir()
        if top is None:
            return
        tree = os.path.join(top, "taskmaster")
        for d, _dirs, _files in sorted(os.walk(tree), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(d)
            except OSError:
                pass

    def notes(self, work):
        # Per-instance cgroups cost at every spawn and exit; a second taskmasterd in the same
        # cgroup (tests run as root, say) leaves this one without them, and so do state files
        # whose directory another daemon uses: a run's figures are only comparable alike.
        try:
            with open(os.path.join(work, "taskmaster.log"), encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            return None
        said = []
        for line in text.splitlines():
            if "cgroups unavailable" in line:
                said.append("no cgroups (" + line.split("cgroups unavailable: ", 1)[-1].split(";")[0] + ")")
            elif "info cgroups: each instance runs in" in line:
                said.append("a cgroup per instance")
            elif "no state files" in line:
                said.append("no state files (" + line.split(" warning ", 1)[-1].split(";")[0] + ")")
        return ", ".join(dict.fromkeys(said)) or None


class Floor(Adapter):
    """Physical reference, no supervisor: a shell loop that forks/execs the N sleeps and waits;
    the output test writes straight to a file. restart is measured specially in bench.py."""
    name = "floor"
    stable_comms = ("bash",)

    def version(self):
        return "bash %s / plain fork+exec" % _dpkg_version("bash")

    def prepare(self, work, services):
        self.services = services

    def launch(self, work, out):
        svcs = self.services
        if len(svcs) == 1 and svcs[0].logdir:
            s = svcs[0]
            f = open(os.path.join(s.logdir, "out.log"), "wb")
            try:
                return subprocess.Popen(s.argv, cwd=work, env=clean_env(s.env), stdin=subprocess.DEVNULL,
                                        stdout=f, stderr=subprocess.DEVNULL)
            finally:
                f.close()
        # every service runs the same argv; the name goes in BENCH_SVC (printf -v: no subshell fork)
        argv = " ".join(shlex.quote(a) for a in svcs[0].argv)
        script = ('for ((i=0; i<%d; i++)); do printf -v n "svc-%%04d" "$i"; BENCH_SVC=$n %s & done; wait'
                  % (len(svcs), argv))
        return self._popen(["/bin/bash", "-c", script], work, out)

    def stop_argv(self, work, root, pids):
        # one kill(1) for all; the shell's `wait` reaps them
        return ["/bin/kill", "-TERM"] + [str(p) for p in pids]


class Respawner(Adapter):
    """The honest floor for restart and stop-all: lib/respawner.c, a C loop with no supervision
    logic (SIGCHLD on a signalfd, waitpid(-1, WNOHANG), posix_spawn of the same program with the
    same environment; on SIGTERM one kill per child, then reap them all). Compiled with `cc` on
    first use into a git-ignored cache ($BENCH_BUILD, else bench/compare/.build, else
    /tmp/bench-build-UID), under a name that holds the source's hash, so an edit rebuilds it."""
    name = "respawner"
    stable_comms = ("respawner",)
    has_output = False
    SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "respawner.c")

    def __init__(self):
        self.bin = None

    def build_dir(self):
        if os.environ.get("BENCH_BUILD"):
            return os.environ["BENCH_BUILD"]
        here = os.path.join(os.path.dirname(os.path.dirname(self.SRC)), ".build")
        parent = os.path.dirname(here)
        if os.access(here, os.W_OK) or (not os.path.exists(here) and os.access(parent, os.W_OK)):
            return here
        return "/tmp/bench-build-%d" % os.getuid()

    def check(self):
        import hashlib
        cc = which("cc")
        try:
            with open(self.SRC, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()[:12]
        except OSError as e:
            return "cannot read %s: %s" % (self.SRC, e)
        d = self.build_dir()
        binary = os.path.join(d, "respawner-" + digest, "respawner")
        if not os.access(binary, os.X_OK):
            if cc is None:
                return "no C compiler (`cc`) to build %s (apt-get install gcc)" % self.SRC
            os.makedirs(os.path.dirname(binary), exist_ok=True)
            tmp = binary + ".tmp"
            r = subprocess.run([cc, "-O2", "-Wall", "-o", tmp, self.SRC], capture_output=True, text=True)
            if r.returncode != 0:
                return "cc failed on %s: %s" % (self.SRC, r.stderr.strip()[:300])
            os.rename(tmp, binary)
        self.bin = binary
        return None

    def version(self):
        return "lib/respawner.c (%s)" % os.path.basename(os.path.dirname(self.bin or "?"))

    def prepare(self, work, services):
        if any(s.logdir for s in services) or len({tuple(s.argv) for s in services}) != 1:
            raise NotImplementedError("respawner runs N copies of one argv, without output capture")
        names = ["svc-%04d" % i for i in range(len(services))]
        if [s.env.get("BENCH_SVC") for s in services] != names:
            raise NotImplementedError("respawner names its services svc-0000... itself")
        self.services = services

    def launch(self, work, out):
        if self.bin is None and self.check():
            raise RuntimeError(self.check())
        return self._popen([self.bin, str(len(self.services))] + self.services[0].argv, work, out)

    def stop_argv(self, work, root, pids):
        # it sends SIGTERM to each child, then reaps them all
        return ["/bin/kill", "-TERM", str(root)]


class Dinit(Adapter):
    """dinit in user mode (-u): one `type = process` file per service, `restart = yes` (dinit's own
    default restart-delay, 0.2 s, is kept: it is what users get), an internal `boot` service that
    waits for all of them. Binaries from $DINIT_BIN_DIR, else PATH. Debian 12 has no dinit
    package: build it from source (./configure && make; the binaries are src/dinit, src/dinitctl)."""
    name = "dinit"
    stable_comms = ("dinit",)

    def __init__(self):
        d = os.environ.get("DINIT_BIN_DIR")
        self.bin = os.path.join(d, "dinit") if d else (which("dinit") or "dinit")
        self.ctl = os.path.join(d, "dinitctl") if d else (which("dinitctl") or "dinitctl")

    def check(self):
        for b in (self.bin, self.ctl):
            if not (os.path.isfile(b) and os.access(b, os.X_OK)):
                return "%s not found (set DINIT_BIN_DIR to a dinit build: ./configure && make)" % b
        return None

    def version(self):
        try:
            out = subprocess.run([self.bin, "--version"], capture_output=True, text=True,
                                 timeout=10).stdout
            return (out.strip().splitlines() or ["?"])[0]
        except Exception:
            return "?"

    def sock(self, work):
        return os.path.join(work, "dinit.sock")

    def prepare(self, work, services):
        d = os.path.join(work, "dinit.d")
        envs = os.path.join(work, "env")
        os.makedirs(d)
        os.makedirs(envs)
        for s in services:
            lines = ["type = process", "command = " + " ".join(shlex.quote(a) for a in s.argv)]
            if s.env:
                ef = os.path.join(envs, s.name)
                _write(ef, "".join("%s=%s\n" % kv for kv in s.env.items()))
                lines.append("env-file = " + ef)
            if s.logdir:
                os.makedirs(s.logdir, exist_ok=True)
                lines += ["restart = no", "logfile = " + os.path.join(s.logdir, "out.log")]
            else:
                lines.append("restart = yes")
            _write(os.path.join(d, s.name), "\n".join(lines) + "\n")
        _write(os.path.join(d, "boot"), "type = internal\n" +
               "".join("waits-for = %s\n" % s.name for s in services))

    def launch(self, work, out):
        return self._popen([self.bin, "-u", "-q", "-d", os.path.join(work, "dinit.d"),
                            "-p", self.sock(work), "-l", os.path.join(work, "dinit.log")], work, out)

    def status_argv(self, work):
        return [self.ctl, "-p", self.sock(work), "list"]

    def stop_argv(self, work, root, pids):
        return [self.ctl, "-p", self.sock(work), "shutdown"]

    def count_running(self, text):
        # "[{+}     ] svc-0001 (pid: 123)": started, with a process
        return sum(1 for l in text.splitlines() if "{+}" in l and "(pid:" in l)


ADAPTERS = {a.name: a for a in (Supervisord, Runit, S6, Dinit, Taskmaster, Floor, Respawner)}


def get(name):
    cls = ADAPTERS.get(name)
    return cls() if cls else None


def which(prog):
    return shutil.which(prog, path=CLEAN_PATH)
