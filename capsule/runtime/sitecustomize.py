"""capsule's per-process hook, loaded from PYTHONPATH by every Python process of a step.

With CAPSULE_TRACE_DIR set (at build time), it records, for this process:
- the modules it imported (for the lock), unless the process is one of capsule's own programs
  (the notebook client: its packages are capsule's, not the analysis'; see CAPSULE_PROGRAMS);
- every file it opened for writing, renamed or removed, with the first stack frame inside the
  analysis (file, line, function; for a notebook kernel, the cell) and what the plotting library
  knew of the figure being saved;
- every file it opened for reading, inside the analysis or outside it;
- every network access (a socket connecting, a host name looked up, a URL opened), with its
  call site; loopback and Unix-socket connections (a notebook kernel talking to its runner) are
  not network access and are not recorded.
The record is written at exit as `{CAPSULE_TRACE_DIR}/process-{pid}.json`.

It must never break the analysis: the audit hook catches everything it might raise (an
exception escaping an audit hook makes the traced program's own `open` fail), and a failure is
counted in the record and written to stderr once. Standard library only; it runs inside the
analysis' own Python, and its start-up cost is paid by every process.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys

_TRACE_DIR = os.environ.get("CAPSULE_TRACE_DIR", "")
if _TRACE_DIR:  # only a traced process needs the event layout: untraced start-up stays cheap
    from _capsule_events import NETWORK, READ, REMOVE, WRITE, TraceEvent, TraceSite
_HERE = os.path.dirname(os.path.abspath(__file__))
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".so", ".pyd", ".pth")
_NETWORK_EVENTS = ("socket.connect", "socket.getaddrinfo", "urllib.Request")
# Hosts that never leave the machine; other loopback spellings are caught by _is_local.
_LOCAL_HOSTS = ("", "localhost", "::1", "0.0.0.0", "::")  # noqa: S104 (compared, never bound)
# capsule's own programs, run as `python -m NAME`: what they import is not the analysis'.
CAPSULE_PROGRAMS = ("_capsule_notebook", "_capsule_collect")


def _prefixes(*paths: str | None) -> tuple[str, ...]:
    """Folders (real paths, with a trailing separator) whose files are never data."""
    found = set()
    for path in paths:
        if path:
            found.add(os.path.join(os.path.realpath(path), ""))
    return tuple(sorted(found))


class _Tracer:
    """The state of this process's trace; one instance, installed as an audit hook."""

    def __init__(self) -> None:
        self.root = os.path.join(os.path.realpath(os.environ.get("CAPSULE_ANALYSIS_ROOT", ".")), "")
        self.notebook = os.environ.get("CAPSULE_NOTEBOOK", "")  # set for a notebook's kernel
        self.ignored = _prefixes(
            sys.prefix,
            sys.base_prefix,
            sys.exec_prefix,
            _HERE,
            "/proc",
            "/sys",
            "/dev",
            "/usr",
            "/lib",
            "/lib64",
            "/bin",
            "/sbin",
            "/etc",
            "/var/lib",
            "/run",
            *(
                os.environ.get(name)
                for name in (
                    "MPLCONFIGDIR",
                    "JUPYTER_CONFIG_DIR",
                    "JUPYTER_DATA_DIR",
                    "JUPYTER_RUNTIME_DIR",
                    "IPYTHONDIR",
                    "CAPSULE_TRACE_DIR",
                    "CAPSULE_LOG_DIR",
                )
            ),
        )
        # capsule's own matplotlibrc is read by every process that imports matplotlib
        rc = os.environ.get("MATPLOTLIBRC")
        self.ignored_files = {os.path.realpath(rc)} if rc else set()
        self.events: list[TraceEvent] = []
        self.seq = 0
        self.busy = False
        self.failures = 0
        self.first_failure = ""
        self.force_failure = os.environ.get("CAPSULE_TRACE_FAIL") == "1"  # for capsule's tests

    # The hook is called for every audit event of the process: return fast for all but a few.
    def hook(self, event: str, args: tuple[object, ...]) -> None:
        """The audit hook: record opens, renames and removes; never raise."""
        if self.busy or event not in (
            "open",
            "os.rename",
            "os.remove",
            "socket.connect",
            "socket.getaddrinfo",
            "urllib.Request",
        ):
            return
        self.busy = True
        try:
            if self.force_failure:
                raise RuntimeError("capsule's tracer was told to fail (CAPSULE_TRACE_FAIL=1)")
            if event == "open":
                self._open(args)
            elif event == "os.rename":
                self._rename(args)
            elif event in _NETWORK_EVENTS:
                self._network(event, args)
            else:
                self._write(REMOVE, args[0], args[1] if len(args) > 1 else None)
        except Exception as error:
            self.failures += 1
            if not self.first_failure:
                self.first_failure = f"{type(error).__name__}: {error}"
                with contextlib.suppress(Exception):
                    sys.stderr.write(f"capsule: tracing failed ({self.first_failure})\n")
        finally:
            self.busy = False

    def _open(self, args: tuple[object, ...]) -> None:
        path, mode, flags = (*args, None, None, None)[:3]
        if path is None or isinstance(path, int):
            return  # an already open file descriptor
        if isinstance(mode, str):
            writing = any(char in mode for char in "wax+")
        else:
            writing = isinstance(flags, int) and bool(flags & _WRITE_FLAGS)
        if writing:
            self._write(WRITE, path, None)
        else:
            self._read(path)

    def _rename(self, args: tuple[object, ...]) -> None:
        self._write(REMOVE, args[0], None)
        self._write(WRITE, args[1], None)

    def _where(self, path: object) -> tuple[str, bool] | None:
        """(relative path, False) inside the analysis, (absolute path, True) outside, or None."""
        name = os.fsdecode(os.fspath(path))  # type: ignore[call-overload]
        full = os.path.abspath(name)
        if not full.startswith(self.root):
            full = os.path.realpath(full)
        if full.startswith(self.root):
            return full[len(self.root) :].replace(os.sep, "/"), False
        if full.startswith(self.ignored) or full in self.ignored_files:
            return None
        return full, True

    def _read(self, path: object) -> None:
        # Most reads are imports of modules: drop them before resolving any path (the costly part).
        if isinstance(path, (str, bytes)) and os.fsdecode(path).endswith(_CODE_SUFFIXES):
            return
        where = self._where(path)
        if where is None or where[0].endswith(_CODE_SUFFIXES):
            return
        self.seq += 1
        self.events.append(TraceEvent(self.seq, READ, where[0], where[1], None, None))

    def _write(self, op: str, path: object, _dir_fd: object) -> None:
        where = self._where(path)
        if where is None:
            return
        self.seq += 1
        frame = sys._getframe(1)
        site, figure = self._site(frame) if op == WRITE else (None, None)
        self.events.append(TraceEvent(self.seq, op, where[0], where[1], site, figure))

    def _network(self, event: str, args: tuple[object, ...]) -> None:
        """Record a network access: its target is "host:port" or the URL opened."""
        # https://docs.python.org/3/library/audit_events.html: socket.connect (self, address),
        # socket.getaddrinfo (host, port, family, type, protocol), urllib.Request (url, ...)
        if event == "urllib.Request":
            from urllib.parse import urlsplit  # loaded already: urllib.request imports it

            target = str(args[0])
            try:
                host = urlsplit(target).hostname or ""
            except ValueError:
                host = "?"  # a malformed URL: still an attempt to reach the network
            if _is_local(host):
                return
        else:
            address = args[1] if event == "socket.connect" else args[:2]
            if (
                not isinstance(address, tuple)
                or len(address) < 2
                or not isinstance(address[0], (str, bytes))
            ):
                return  # a Unix socket (a path), no host (binding), or a family without hosts
            host = address[0].decode() if isinstance(address[0], bytes) else address[0]
            if _is_local(host):
                return
            target = f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
        self.seq += 1
        site, _figure = self._site(sys._getframe(1))
        self.events.append(TraceEvent(self.seq, NETWORK, target, True, site, None))

    def _site(self, frame: object) -> tuple[TraceSite | None, dict[str, object] | None]:
        """The first frame inside the analysis, and the figure being saved if any."""
        site = None
        figure = None
        while frame is not None:
            code = frame.f_code  # type: ignore[attr-defined]
            filename = code.co_filename
            if figure is None and "savefig" in code.co_name:
                figure = _describe_figure(frame)
            if site is None and not filename.startswith("<"):  # "<frozen runpy>", "<string>"
                full = os.path.abspath(filename)
                if full.startswith(self.root) and not full.startswith(self.ignored):
                    rel = full[len(self.root) :].replace(os.sep, "/")
                    site = TraceSite(rel, frame.f_lineno, code.co_name, 0)  # type: ignore[attr-defined]
                elif self.notebook and _is_cell(filename):
                    site = TraceSite(self.notebook, frame.f_lineno, code.co_name, _cell())  # type: ignore[attr-defined]
            if site is not None:
                break  # a savefig frame lies between the open and the analysis' own frame
            frame = frame.f_back  # type: ignore[attr-defined]
        return site, figure

    def record(self) -> dict[str, object]:
        """This process's record, as written at exit."""
        return {
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "argv": list(sys.argv),
            "executable": sys.executable,
            "cwd": os.getcwd(),
            "step": os.environ.get("CAPSULE_STEP", ""),
            "modules": {} if _capsule_program() else _modules(),
            "events": self.events,
            "failures": self.failures,
            "first_failure": self.first_failure,
        }


def _is_local(host: str) -> bool:
    """Whether a host is this machine: loopback addresses and names, or the wildcard."""
    if host in _LOCAL_HOSTS or host.startswith("127.") or host.endswith(".localhost"):
        return True
    if ":" not in host:
        return False  # an IPv4 address or a name: only the cases above are local
    import ipaddress  # only once an IPv6 address is met: start-up stays cheap

    try:
        address = ipaddress.IPv6Address(host.partition("%")[0])
    except ValueError:
        return False
    mapped = address.ipv4_mapped  # ::ffff:127.0.0.1
    return address.is_loopback or address.is_unspecified or bool(mapped and mapped.is_loopback)


def _is_cell(filename: str) -> bool:
    """Whether a code object comes from a notebook cell: ipykernel names them
    <tmp>/ipykernel_<pid>/<hash>.py (not to be confused with ipykernel_launcher.py)."""
    _, marker, rest = filename.partition("/ipykernel_")
    return bool(marker) and rest.partition("/")[0].isdigit()


def _cell() -> int:
    """The notebook code cell being run, counted from 1 among code cells.

    A fresh kernel runs the non-blank code cells in order (CAPSULE_NOTEBOOK_CELLS lists their
    numbers), and while the n-th of them runs IPython's execution_count already reads n + 1 (the
    number of the next execution); capsule's tests pin this down.
    """
    try:
        shell = sys.modules["IPython"].get_ipython()
        executed = int(shell.execution_count) - 1
        cells = [int(n) for n in os.environ.get("CAPSULE_NOTEBOOK_CELLS", "").split(",") if n]
        return cells[executed - 1] if 0 < executed <= len(cells) else max(executed, 1)
    except Exception:
        return 0


def _describe_figure(frame: object) -> dict[str, object] | None:
    """Ask the figure tracers (one per plotting library) what the saved figure is."""
    try:
        import _capsule_figures

        described: dict[str, object] | None = _capsule_figures.describe(frame)
        return described
    except Exception:
        return None


def _capsule_program() -> bool:
    """Whether this process is one of capsule's own programs (its __main__ is one of them)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", "") in CAPSULE_PROGRAMS


def _modules() -> dict[str, str | None]:
    """Top-level name -> file of every module loaded so far in this process.

    A namespace package (`mpl_toolkits`, `google`) has no file of its own: one of its
    submodules' files stands for it, which is what maps it to the right distribution.
    """
    found: dict[str, str | None] = {}
    for name, module in list(sys.modules.items()):
        top = name.partition(".")[0]
        path = getattr(module, "__file__", None)
        if (name == top and path) or found.get(top) is None:
            found[top] = str(path) if path else None
    return found


_TRACER = _Tracer() if _TRACE_DIR else None


def _write_record() -> None:
    """Write this process's record into the trace folder."""
    if _TRACER is None:
        return
    _TRACER.busy = True  # capsule's own writes are not the analysis'
    try:
        target = os.path.join(_TRACE_DIR, f"process-{os.getpid()}.json")
        with open(target + ".tmp", "w", encoding="utf-8") as stream:
            import json  # here, not at start-up: every process of a step loads this module

            json.dump(_TRACER.record(), stream, sort_keys=True)
        os.replace(target + ".tmp", target)
    except Exception as error:  # never fail the analysis because of capsule
        sys.stderr.write(f"capsule: could not write the trace of this process: {error!r}\n")


def _chain_next_sitecustomize() -> None:
    """Run the sitecustomize this one shadows (a distribution's or a virtualenv's), if any."""
    for entry in sys.path:
        if not entry or os.path.abspath(entry) == _HERE:
            continue
        candidate = os.path.join(entry, "sitecustomize.py")
        if os.path.isfile(candidate):
            try:
                with open(candidate, encoding="utf-8") as stream:
                    code = compile(stream.read(), candidate, "exec")
                exec(code, {"__name__": "sitecustomize", "__file__": candidate})  # noqa: S102
            except Exception as error:
                sys.stderr.write(f"capsule: the sitecustomize at {candidate} failed: {error!r}\n")
            return


_SHOW_BACKEND = "module://_capsule_show"  # the determinism env's MPLBACKEND
_INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def _is_kernel() -> bool:
    """Whether this process is a Jupyter kernel (`python -m ipykernel_launcher -f FILE`)."""
    argv = getattr(sys, "orig_argv", None)  # Python 3.10+: the whole command line
    if argv is not None:
        return any(arg in ("ipykernel_launcher", "ipykernel", "_capsule_kernel") for arg in argv)
    # 3.8 and 3.9 do not say which module -m runs yet: a kernel's connection file is its mark
    args = sys.argv
    return args[:1] == ["-m"] and any(
        flag == "-f" and os.path.basename(value).startswith("kernel-") and value.endswith(".json")
        for flag, value in zip(args, args[1:])
    )


def _inline_in_kernels() -> None:
    """A kernel shows figures inline, as it does without capsule, whoever started it (capsule's
    notebook client, or `jupyter nbconvert --execute` and papermill in a command step): the
    plt.show() backend of the determinism env is for scripts."""
    if os.environ.get("MPLBACKEND") != _SHOW_BACKEND or not _is_kernel():
        return
    import importlib.util

    if importlib.util.find_spec("matplotlib_inline") is not None:
        os.environ["MPLBACKEND"] = _INLINE_BACKEND


def _record_when_terminated() -> None:
    """A kernel's record is written when it is stopped with SIGTERM, too.

    The client that started it (nbclient, for `jupyter nbconvert --execute` or papermill) asks
    it to shut down and sends SIGTERM when it is slow to: the record, written at exit, was then
    lost, and with it the packages the notebook imported. A disposition set before (ignored,
    or a handler) is left alone.
    """
    if _TRACER is None or not _is_kernel():
        return
    import signal

    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def terminated(signum: int, _frame: object) -> None:
        _write_record()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)  # then end as SIGTERM ends it

    signal.signal(signal.SIGTERM, terminated)


if _TRACER is not None:
    atexit.register(_write_record)
    sys.addaudithook(_TRACER.hook)
_inline_in_kernels()
_record_when_terminated()
_chain_next_sitecustomize()
