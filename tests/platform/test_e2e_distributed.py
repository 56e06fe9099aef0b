"""The whole loop on the deployed topology, with faults: nothing runs inside the test process.

A private PostgreSQL cluster and a private Redis (append-only, as in docker-compose) are started for
this test alone, so they can be restarted without disturbing anything else on the machine. Web
(gunicorn), the gpu worker, the cpu+default worker and beat are started with the commands of
docker-compose.yml, read from that file, and the settings of .env.example; only host names, ports,
paths and the inference device differ (tests/compose.py and `Stack`). Every step goes through a
management command in a subprocess or through HTTP; the test reads the database only to observe
(and to let its simulated raters know which answer a check clip expects).

Faults injected: Redis is restarted while the generation run is in progress; PostgreSQL is stopped for
a few seconds while raters are submitting. Outcome required: the run completes with every sample
exactly once, raters are told to retry (503 + the retry page) and every rating arrives exactly once.

Runs in the services pass of `make test` (about 5 minutes on 2 cores).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.compose import compose_commands, compose_environment, free_port
from tests.conftest import REPO, ci_mode
from tests.platform.test_distributed import EXPECTED as EXPECTED_SAMPLES
from tests.platform.test_distributed import PROTOCOL_ARGS

pytestmark = [pytest.mark.services]


def _need(condition: bool, reason: str) -> None:
    if not condition:
        if ci_mode():
            pytest.fail(reason)
        pytest.skip(reason)


def _pg_tool(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, or where Debian's packages keep them (not on PATH)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    return str(candidates[0]) if candidates else None


def _wait_until(predicate, timeout_s: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


class PrivatePostgres:
    """A throw-away cluster (initdb), run as the postgres user when the test runs as root."""

    def __init__(self, root: Path):
        self.port = free_port()
        self.data = root / "pgdata"
        self.data.mkdir(parents=True)
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
            shutil.chown(self.data, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run([_pg_tool("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
        self.start()
        self._run(
            [_pg_tool("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "varietysound"]
        )
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/varietysound"

    def _run(self, command: list[str]) -> None:
        subprocess.run([*self.as_user, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._run(
            [
                _pg_tool("pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.data / "log"),
                "-w",
                "start",
            ]
        )

    def stop(self) -> None:
        self._run([_pg_tool("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def query(self, sql: str, *params) -> list[tuple]:
        import psycopg2

        with psycopg2.connect(self.url.replace("postgres://", "postgresql://")) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()


class PrivateRedis:
    """Redis with the append-only file on, as docker-compose runs it, so a restart keeps the queues."""

    def __init__(self, root: Path):
        self.port = free_port()
        self.dir = root / "redis"
        self.dir.mkdir()
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--appendonly", "yes",
             "--dir", str(self.dir), "--save", "", "--logfile", str(self.dir / "log")],
        )  # fmt: skip
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        _wait_until(lambda: _pings(client), 20, "redis to start", 0.1)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)  # a clean shutdown writes out the append-only file
        self.process.wait(timeout=30)


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001 - not up yet
        return False


class Stack:
    def __init__(self, root: Path):
        self.root = root
        self.pg = PrivatePostgres(root)
        self.redis = PrivateRedis(root)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = compose_environment(
            root=root,
            database_url=self.pg.url,
            broker_url=f"redis://127.0.0.1:{self.redis.port}",
            cache_url=f"redis://127.0.0.1:{self.redis.port}/2",
            INFERENCE_DEVICE="cpu",  # no GPU here
            WEB_CONCURRENCY="2",
            MTURK_SYNC_SECONDS="30",
            RATER_ENTRY_LIMIT="1000/60",  # every simulated rater comes from 127.0.0.1
            PYTHONFAULTHANDLER="1",
            OMP_NUM_THREADS="1",
        )
        self.commands = compose_commands(web_port=self.port, media_root=root / "media")
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs = root / "logs"
        self.logs.mkdir()

    def start(self, name: str) -> None:
        command = self.commands[name]
        with (self.logs / f"{name}.log").open("w") as log:
            self.processes[name] = subprocess.Popen(
                ["sh", "-c", command], cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def manage(self, *args: str, timeout: int = 600) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPO, env=self.env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
        assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def close(self) -> None:
        for process in self.processes.values():
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        for stop in (self.redis.stop, self.pg.stop):
            try:
                stop()
            except Exception:  # noqa: BLE001 - already down
                pass


@pytest.fixture
def stack():
    if not (settings.CELERY_BROKER_URL and settings.DATABASES["default"]["ENGINE"].endswith("postgresql")):
        pytest.skip(
            "runs in the services pass of `make test` (DATABASE_URL on PostgreSQL, CELERY_BROKER_URL)"
        )
    for tool in ("initdb", "pg_ctl", "createdb"):
        _need(_pg_tool(tool) is not None, f"PostgreSQL's {tool} is not installed")
    _need(shutil.which("redis-server") is not None, "redis-server is not installed")
    root = Path(tempfile.mkdtemp(prefix="vs-e2e-"))
    os.chmod(root, 0o755)
    stack = Stack(root)
    try:
        yield stack
    finally:
        stack.close()
        for name in stack.processes:
            print(f"----- {name} (last lines) -----\n{stack.log(name)[-3000:]}")
        shutil.rmtree(root, ignore_errors=True)


def _login(stack: Stack, username: str, password: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{stack.base}/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        f"{stack.base}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{stack.base}/accounts/login/"},
        timeout=30,
    )
    assert response.ok and "Log out" in response.text, "the researcher is logged in"
    return session


def _post_form(session: requests.Session, stack: Stack, page_url: str, action: str, data=None):
    page = session.get(page_url, timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return session.post(
        f"{stack.base}{action}",
        data={"csrfmiddlewaretoken": token, **(data or {})},
        headers={"Referer": page_url},
        timeout=60,
    )


class Rater:
    """A simulated rater driving the pages as a browser would, including the retry page's behaviour."""

    def __init__(self, stack: Stack, link: str, checks: dict[str, tuple[int, int]], cheat: bool, seed: int):
        self.stack, self.link, self.checks, self.cheat = stack, link, checks, cheat
        self.rng = random.Random(seed)
        self.http = requests.Session()
        self.accepted: list[str] = []  # stimulus uids whose submission got through
        self.retry_pages = 0
        self.errors: list[str] = []

    def _request(self, method: str, url: str, **kwargs) -> requests.Response:
        """Send, and on 503 do what the retry page does: wait Retry-After, then send the same again."""
        for _ in range(60):
            response = self.http.request(method, url, timeout=60, allow_redirects=False, **kwargs)
            if response.status_code != 503:
                return response
            self.retry_pages += 1
            if method == "POST" and "has not been lost" not in response.text:
                self.errors.append("a 503 without the retry message")
            if method == "POST":
                carried = dict(
                    re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', response.text)
                )
                if carried != kwargs["data"]:
                    self.errors.append(f"the retry page changed the answer: {carried} != {kwargs['data']}")
            time.sleep(int(response.headers.get("Retry-After", "1")))
        raise AssertionError(f"{url} kept answering 503")

    def score(self, uid: str) -> str:
        if self.cheat:
            return "1"
        if uid in self.checks:
            low, high = self.checks[uid]
            return str(self.rng.randint(low, high))
        return str(self.rng.randint(2, 5))

    def run(self) -> None:
        try:
            while True:
                entry = self._request("GET", self.link)
                if entry.status_code != 302:
                    assert "Nothing to rate" in entry.text, entry.text[:300]
                    return
                url = self.stack.base + entry.headers["Location"]
                while True:
                    page = self._request("GET", url)
                    assert page.status_code == 200, page.text[:300]
                    found = re.search(r'name="stimulus" value="([0-9a-f-]+)"', page.text)
                    if found is None:
                        assert 'id="completion-code"' in page.text, page.text[:300]
                        break
                    media = re.search(r'id="stimulus"[^>]*src="([^"]+)"', page.text).group(1)
                    part = self._request("GET", self.stack.base + media, headers={"Range": "bytes=0-1023"})
                    assert part.status_code == 206 and len(part.content) == 1024
                    uid = found.group(1)
                    form = {"stimulus": uid, "score": self.score(uid), "time_ms": "8000", "plays": "1",
                            "ended": "1"}  # fmt: skip
                    sent = self._request("POST", url, data=form)
                    assert sent.status_code == 302, sent.text[:300]
                    self.accepted.append(uid)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(exc))


def test_the_whole_loop_runs_distributed_through_a_redis_restart_and_a_database_outage(stack):
    (stack.root / "media").mkdir()  # the compose volume
    stack.manage("collectstatic", "--noinput")  # as the image build does
    stack.start("web")  # migrates, then serves
    _wait_until(lambda: _healthy(stack), 180, "gunicorn to answer /healthz")
    stack.start("worker-gpu")
    stack.start("worker-cpu")
    stack.start("beat")
    stack.manage("create_researcher", "e2e", "--password", "an-e2e-password-long-enough")

    # Data and checkpoints: the commands enqueue on the cpu and gpu queues and follow progress.
    out = stack.manage("make_synthvas", "--clips-per-category", "10", "--seconds", "2.2", "--categories",
                       "dog", "--workers", "1", "--name", "e2e")  # fmt: skip
    assert "Queued on the cpu queue" in out
    for system in ("varietysound", "cascade"):
        assert "Queued on the gpu queue" in stack.manage(
            "train", "--system", system, "--dataset", "e2e", "--steps", "1"
        )

    # The protocol, with Redis restarted while batches are in flight.
    out = stack.manage("generate", "--dataset", "e2e", "--no-wait", *PROTOCOL_ARGS)
    run_id = int(re.search(r"Generation run #(\d+)", out).group(1))
    _wait_until(
        lambda: (
            stack.pg.query(
                "SELECT count(*) FROM registry_sample WHERE run_id=%s AND status='succeeded'", run_id
            )[0][0]
            >= 2
        ),  # fmt: skip
        300,
        "the first samples",
    )
    stack.redis.stop()
    time.sleep(3)
    stack.redis.start()
    _wait_until(
        lambda: (
            stack.pg.query("SELECT status FROM registry_generationrun WHERE id=%s", run_id)[0][0]
            in ("succeeded", "failed")
        ),
        600,
        "the run to finish after the Redis restart",
    )
    researcher = _login(stack, "e2e", "an-e2e-password-long-enough")
    summary = researcher.get(f"{stack.base}/runs/{run_id}/summary.json", timeout=30).json()
    assert summary["status"] == "succeeded", summary
    rows = stack.pg.query(
        "SELECT task, system, status, count(*) FROM registry_sample WHERE run_id=%s GROUP BY 1, 2, 3", run_id
    )
    assert {
        (task, system): n for task, system, status, n in rows if status == "succeeded"
    } == EXPECTED_SAMPLES
    assert all(status == "succeeded" for _, _, status, _ in rows), "every sample exactly once, none failed"
    csv_lines = (
        researcher.get(f"{stack.base}/runs/{run_id}/samples.csv", timeout=30).text.strip().splitlines()
    )
    assert len(csv_lines) == 1 + sum(EXPECTED_SAMPLES.values())

    # Three studies, prepared on the cpu worker, opened from the researcher's pages.
    out = stack.manage("create_studies", "--run", str(run_id), "--ratings-per-stimulus", "2",
                       "--stimuli-per-assignment", "4", "--invites", "4", "--base-url", stack.base)  # fmt: skip
    study_ids = [int(n) for n in re.findall(r"study #(\d+)", out)]
    links = re.findall(r"rater link\s+(\S+)", out)
    assert len(study_ids) == 3 and len(links) == 12
    _wait_until(
        lambda: all(state == "draft" for (state,) in stack.pg.query("SELECT state FROM studies_study")),
        180,
        "the check media of the three studies",
    )
    for pk in study_ids:
        opened = _post_form(researcher, stack, f"{stack.base}/studies/{pk}/", f"/studies/{pk}/do/open")
        assert opened.ok
    assert {s for (s,) in stack.pg.query("SELECT state FROM studies_study")} == {"open"}

    # Raters through HTTP, 4 per study (one of them clicks 1 for everything); PostgreSQL goes away
    # for a few seconds once ratings are flowing.
    checks = {
        str(uid): (low, high)
        for uid, low, high in stack.pg.query(
            "SELECT uid, expected_min, expected_max FROM studies_stimulus WHERE role IN ('gold_high', "
            "'gold_low', 'trap')"
        )
    }
    raters = [Rater(stack, link, checks, cheat=(i == 0), seed=i) for i, link in enumerate(links)]
    threads = [threading.Thread(target=r.run) for r in raters]
    for thread in threads:
        thread.start()
    _wait_until(lambda: stack.pg.query("SELECT count(*) FROM studies_rating")[0][0] >= 10, 120, "ratings")
    stack.pg.stop()
    time.sleep(4)
    stack.pg.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert [r.errors for r in raters] == [[] for _ in raters]
    assert sum(r.retry_pages for r in raters) > 0, "raters met the outage and were told to retry"

    # Every accepted submission is stored exactly once; nothing else is stored.
    stored = stack.pg.query(
        "SELECT r.external_id, s.uid FROM studies_rating g JOIN studies_rater r ON r.id = g.rater_id "
        "JOIN studies_stimulus s ON s.id = g.stimulus_id"
    )
    assert len(stored) == sum(len(r.accepted) for r in raters)
    assert not [k for k, n in Counter(stored).items() if n > 1]
    assert Counter(str(uid) for _, uid in stored) == Counter(uid for r in raters for uid in r.accepted)

    # Results over HTTP: every test clip reached its target of valid ratings, the cheater is out.
    for pk in study_ids:
        results = researcher.get(f"{stack.base}/studies/{pk}/export.json", timeout=60).json()
        short = stack.pg.query(
            "SELECT count(*) FROM studies_stimulus WHERE study_id=%s AND role='test' AND valid_ratings < 2",
            pk,
        )[0][0]
        assert short == 0, f"study {pk}: every clip has its 2 valid ratings"
        valid = stack.pg.query(
            "SELECT sum(valid_ratings) FROM studies_stimulus WHERE study_id=%s AND role='test'", pk
        )[0][0]
        assert results["n_ratings_valid"] == valid, results
        assert results["table"] and results["n_ratings_all"] >= valid
    cheaters = stack.pg.query("SELECT exclusion_reason FROM studies_rater WHERE excluded")
    assert cheaters and all(reason for (reason,) in cheaters), "the rater who clicked 1 throughout is out"

    # Beat sent the MTurk sync through Redis and the cpu+default worker ran it.
    _wait_until(lambda: "succeeded" in _sync_lines(stack.log("worker-cpu")), 90, "beat's mturk sync")
    assert "Sending due task mturk-sync" in stack.log("beat")
    assert all(p.poll() is None for p in stack.processes.values()), "every service is still up"


def _healthy(stack: Stack) -> bool:
    try:
        return requests.get(f"{stack.base}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _sync_lines(log: str) -> str:
    return "\n".join(line for line in log.splitlines() if "default.mturk_sync_all" in line)
