"""Benchmark: many raters at once against gunicorn + PostgreSQL, then count what was stored.

Starts the web service with docker-compose.yml's command (gunicorn, WEB_CONCURRENCY processes × 4
threads) and the settings of .env.example, on a throw-away PostgreSQL database of this machine's
server and Redis as the cache (rate limits). The study is loaded directly (3 systems × 8 categories ×
20 clips, gold and trap clips, one real 10-s wave file behind every clip).

Phase 1, ratings: `--raters` simulated raters in flight at once, each doing `--assignments`
assignments the way the page does (open the task, fetch the clip with a Range request, post the
score). A share of submissions (`--retry-share`) is sent twice at the same moment from two
connections, as a client that timed out and retried would; a 503 is retried after its Retry-After, as
the rater page does. Then every stored row is counted against
what the clients were told: each accepted rating stored once, none lost, no duplicates, every
assignment closed once.

Phase 2, serving: for `--serve-seconds`, the same number of clients fetch the rater page and ranges
of the clip (seeking) as fast as they can.

    .venv/bin/python bench/bench_rating_load.py [--raters 200] [--assignments 2] [--web-workers 4]
        [--retry-share 0.1] [--serve-seconds 15] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "platform"))

from _report import append_section, command_line, markdown_table, section, utc_now  # noqa: E402

from tests.compose import compose_commands, compose_environment, free_port  # noqa: E402

CATEGORIES = ("baby", "cough", "dog", "drum", "fireworks", "gun", "hammer", "sneeze")
SYSTEMS = ("ground_truth", "baseline", "proposed")
CLIPS_PER_CONDITION = 20
STIMULUS = re.compile(r'name="stimulus" value="([0-9a-f-]+)"')
MEDIA = re.compile(r'id="stimulus"[^>]*src="([^"]+)"')


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def run_all(threads: list[threading.Thread]) -> float:
    """Start every client at once, wait for all; the wall time in seconds."""
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def latency_ms(values: list[float]) -> tuple[str, str]:
    """p50 and p99 in milliseconds, for the tables."""
    return f"{median(values) * 1000:.0f}", f"{percentile(values, 0.99) * 1000:.0f}"


def write_wave(path: Path, seconds: float = 10.0, rate: int = 22050) -> None:
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.tobytes())


def load_study(raters: int, ratings_per_stimulus: int):
    """The study, straight into the database: what generation and preparation would have left."""
    from django.core.management import call_command

    from registry.models import Clip, Dataset, GenerationRun, Sample, Split, Status
    from studies.models import Rater, Stimulus, Study
    from studies.services.studies import invite_token

    call_command("migrate", verbosity=0)
    dataset = Dataset.objects.create(name="bench", source="synthvas", root="x", status=Status.SUCCEEDED)
    run = GenerationRun.objects.create(
        name="bench", dataset=dataset, status=Status.SUCCEEDED,
        spec={"systems": [{"key": k, "label": k, "checkpoint": None, "tasks": ["realism"]} for k in SYSTEMS],
              "categories": list(CATEGORIES)},
    )  # fmt: skip
    clips = Clip.objects.bulk_create(
        [Clip(dataset=dataset, clip_id=f"{c}-{i}", category=c, split=Split.TEST)
         for c in CATEGORIES for i in range(CLIPS_PER_CONDITION)]
    )  # fmt: skip
    samples = Sample.objects.bulk_create(
        [Sample(run=run, task="realism", category=clip.category, system=s, clip=clip, audio="bench/clip.wav",
                status=Status.SUCCEEDED) for clip in clips for s in SYSTEMS]
    )  # fmt: skip
    study = Study.objects.create(
        name="bench", run=run, kind="realism", instructions="Rate the clip.",
        rubric={"question": "How real does it sound?", "levels": {str(i): f"level {i}" for i in range(1, 6)}},
        systems=list(SYSTEMS), categories=list(CATEGORIES), ratings_per_stimulus=ratings_per_stimulus,
        stimuli_per_assignment=10, gold_per_assignment=2, traps_per_assignment=1, state=Study.State.OPEN,
    )  # fmt: skip
    Stimulus.objects.bulk_create(
        [Stimulus(study=study, sample=s, category=s.category, system=s.system, media="audio", file="bench/clip.wav")
         for s in samples]
        + [Stimulus(study=study, role=role, category="dog", media="audio", file="bench/clip.wav",
                    expected_min=low, expected_max=high)
           for role, low, high in [("gold_high", 4, 5), ("gold_low", 1, 2), ("trap", 2, 2)] for _ in range(20)]
    )  # fmt: skip
    checks = {
        str(uid): (low, high)
        for uid, low, high in Stimulus.objects.filter(study=study)
        .exclude(role="test")
        .values_list("uid", "expected_min", "expected_max")
    }
    people = Rater.objects.bulk_create(
        [Rater(study=study, source="invite", external_id=secrets.token_urlsafe(9)) for _ in range(raters)]
    )
    return study, [invite_token(r) for r in people], checks


class Client:
    """One rater's browser: its own connection pool, timings per request kind."""

    def __init__(self, base: str, checks: dict, seed: int, timings: dict, lock: threading.Lock):
        import requests

        self.base, self.checks, self.rng = base, checks, random.Random(seed)
        self.http = requests.Session()
        self.timings, self.lock = timings, lock
        self.accepted: list[tuple[str, str]] = []  # (rate url, stimulus uid)
        self.statuses: Counter = Counter()

    def request(self, kind: str, method: str, url: str, session=None, **kwargs):
        start = time.perf_counter()
        for _ in range(20):
            response = (session or self.http).request(
                method, url, timeout=120, allow_redirects=False, **kwargs
            )
            self.statuses[(kind, response.status_code)] += 1
            if response.status_code != 503:
                break
            # What the retry page does: wait Retry-After, then send the same request again.
            time.sleep(int(response.headers.get("Retry-After", "1")))
        elapsed = time.perf_counter() - start
        with self.lock:
            self.timings[kind].append(elapsed)
        return response

    def rate(self, invite: str, assignments: int, retry_share: float) -> None:
        for _ in range(assignments):
            entry = self.request("entry", "GET", f"{self.base}/i/{invite}/")
            if entry.status_code != 302:
                return
            url = self.base + entry.headers["Location"]
            while True:
                page = self.request("page", "GET", url)
                found = STIMULUS.search(page.text)
                if found is None:
                    break
                self.request("media", "GET", self.base + MEDIA.search(page.text).group(1),
                             headers={"Range": "bytes=0-65535"})  # fmt: skip
                uid = found.group(1)
                low, high = self.checks.get(uid, (1, 5))
                form = {"stimulus": uid, "score": str(self.rng.randint(low, high)), "time_ms": "10500",
                        "plays": "1", "ended": "1"}  # fmt: skip
                if self.rng.random() < retry_share:
                    # The same submission twice at once: a retry racing the original.
                    results: list = []
                    twin = threading.Thread(target=self._submit_again, args=(url, form, results))
                    twin.start()
                    response = self.request("submit", "POST", url, data=form)
                    twin.join()
                    ok = response.status_code == 302 or any(r.status_code == 302 for r in results)
                else:
                    ok = self.request("submit", "POST", url, data=form).status_code == 302
                if ok:
                    self.accepted.append((url, uid))
                else:
                    return

    def _submit_again(self, url: str, form: dict, results: list) -> None:
        import requests

        results.append(self.request("submit", "POST", url, session=requests.Session(), data=form))

    def serve(self, url: str, media: str, until: float, size: int) -> None:
        while time.perf_counter() < until:
            self.request("serve page", "GET", url)
            start = self.rng.randrange(0, max(1, size - 65536))
            self.request("serve range", "GET", media, headers={"Range": f"bytes={start}-{start + 65535}"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raters", type=int, default=200)
    parser.add_argument("--assignments", type=int, default=2)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--retry-share", type=float, default=0.1)
    parser.add_argument("--serve-seconds", type=float, default=15.0)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--cache-url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    import psycopg2

    admin = psycopg2.connect(f"{args.postgres}/postgres")
    admin.autocommit = True
    database = f"bench_load_{os.getpid()}_{secrets.token_hex(3)}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{database}"')
    root = Path(tempfile.mkdtemp(prefix="bench-load-"))
    env = compose_environment(
        root=root,
        database_url=f"{args.postgres}/{database}",
        cache_url=args.cache_url,
        WEB_CONCURRENCY=str(args.web_workers),
        # Every simulated rater comes from 127.0.0.1, and the serving phase hammers each task.
        RATER_ENTRY_LIMIT="1000000/60",
        RATER_TASK_LIMIT="1000000/60",
        LOG_LEVEL="WARNING",
    )
    os.environ.update({k: v for k, v in env.items() if k != "PATH"})
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    web = None
    try:
        import django

        django.setup()
        import redis

        redis.Redis.from_url(args.cache_url).flushdb()
        write_wave(root / "media" / "bench" / "clip.wav")
        ratings_wanted = args.raters * args.assignments * 10
        per_stimulus = -(-ratings_wanted * 2 // (len(CATEGORIES) * len(SYSTEMS) * CLIPS_PER_CONDITION))
        study, invites, checks = load_study(args.raters, per_stimulus)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = (root / "web.log").open("w")
        web_command = compose_commands(web_port=port, media_root=root / "media")["web"]
        web = subprocess.Popen(["sh", "-c", web_command], cwd=REPO, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        wait_for(base)
        return run(args, study, invites, checks, base, root)
    finally:
        if web is not None:
            os.killpg(web.pid, signal.SIGTERM)
            web.wait(timeout=60)
        problems = (
            [
                line
                for line in (root / "web.log").read_text(errors="replace").splitlines()
                if " WARNING " in line or " ERROR " in line or "Error" in line
            ]
            if (root / "web.log").exists()
            else []
        )
        if problems:
            print(f"web log: {len(problems)} warning/error lines, the last ones:")
            print("\n".join(problems[-15:]))
        from django.db import connections

        connections.close_all()
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()
        shutil.rmtree(root, ignore_errors=True)


def wait_for(base: str) -> None:
    import requests

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit("gunicorn did not answer /healthz")


def run(args, study, invites: list[str], checks: dict, base: str, root: Path) -> int:
    from studies.models import Assignment, Rating

    timings: dict[str, list[float]] = defaultdict(list)
    lock = threading.Lock()
    clients = [Client(base, checks, i, timings, lock) for i in range(args.raters)]
    threads = [
        threading.Thread(target=c.rate, args=(invite, args.assignments, args.retry_share))
        for c, invite in zip(clients, invites, strict=True)
    ]
    cpu_before = os.times()
    rating_wall = run_all(threads)
    accepted = [(url, uid) for c in clients for url, uid in c.accepted]
    statuses = sum((c.statuses for c in clients), Counter())
    print("responses (rating phase):", dict(sorted(statuses.items())))

    # Count what the database holds against what the clients were told.
    stored = list(Rating.objects.filter(study=study).values_list("assignment__uid", "stimulus__uid"))
    stored_pairs = Counter((str(a), str(s)) for a, s in stored)

    def assignment_of(url: str) -> str:
        from django.core import signing

        from studies.views_rater import ASSIGNMENT_SALT

        return signing.loads(url.rstrip("/").rsplit("/", 1)[1], salt=ASSIGNMENT_SALT)["a"]

    told = Counter((assignment_of(url), uid) for url, uid in accepted)
    lost = sum((told - stored_pairs).values())
    unexpected = sum((stored_pairs - told).values())
    duplicates = sum(n - 1 for n in stored_pairs.values() if n > 1)
    n_assignments = Assignment.objects.filter(study=study).count()
    closed = Assignment.objects.filter(study=study, state="submitted").exclude(completion_code="").count()
    server_errors = sum(n for (kind, code), n in statuses.items() if code >= 500)
    doubled = statuses[("submit", 302)] - len(accepted)

    # Phase 2: page and range serving.
    media_size = (root / "media" / "bench" / "clip.wav").stat().st_size
    targets = []  # a fresh assignment per client, left open: its page and clip are what get served
    for c, invite in zip(clients, invites, strict=True):
        entry = c.http.get(f"{base}/i/{invite}/", allow_redirects=False, timeout=60)
        if entry.status_code == 302:
            url = base + entry.headers["Location"]
            media = MEDIA.search(c.http.get(url, timeout=60).text)
            if media:
                targets.append((c, url, base + media.group(1)))
    serve_timings: dict[str, list[float]] = defaultdict(list)
    serve_clients = []
    for i, (_, url, media) in enumerate(t for t in targets if t[2]):
        client = Client(base, checks, 10_000 + i, serve_timings, lock)
        serve_clients.append((client, url, media))
    until = time.perf_counter() + args.serve_seconds
    serve_threads = [
        threading.Thread(target=c.serve, args=(u, m, until, media_size)) for c, u, m in serve_clients
    ]
    serve_wall = run_all(serve_threads)
    serve_statuses = sum((c.statuses for c, _, _ in serve_clients), Counter())
    print("responses (serving phase):", dict(sorted(serve_statuses.items())))
    cpu_after = os.times()
    load1 = os.getloadavg()[0]

    rows = [
        (kind, len(timings[kind]), *latency_ms(timings[kind]))
        for kind in ("entry", "page", "media", "submit")
    ]
    serve_rows = [
        (
            kind,
            len(serve_timings[kind]),
            f"{len(serve_timings[kind]) / serve_wall:.0f}",
            *latency_ms(serve_timings[kind]),
        )
        for kind in ("serve page", "serve range")
    ]
    ranged = serve_statuses[("serve range", 206)]
    print(f"raters {args.raters} × {args.assignments} assignments, gunicorn {args.web_workers} × 4 threads")
    print(
        f"ratings accepted {len(accepted)} in {rating_wall:.1f} s = {len(accepted) / rating_wall:.1f} ratings/s"
    )
    print(f"stored {sum(stored_pairs.values())}; lost {lost}; unexpected {unexpected}; duplicates {duplicates}; "
          f"double-sent submissions answered 302 twice: {doubled}")  # fmt: skip
    print(f"assignments {n_assignments}, closed with a code {closed}; server errors {server_errors}")
    print(markdown_table(["request", "count", "p50 ms", "p99 ms"], rows))
    print(markdown_table(["serving", "count", "per s", "p50 ms", "p99 ms"], serve_rows))
    print(f"ranges answered 206: {ranged} of {len(serve_timings['serve range'])}; load average {load1:.2f}")
    client_cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    failed = lost or unexpected or duplicates or server_errors or closed != n_assignments
    if not args.no_record:
        append_section(
            section(
                "Rating load: concurrent raters on gunicorn + PostgreSQL",
                date=utc_now(),
                command=command_line("bench_rating_load.py"),
                bullets=[
                    f"{args.raters} raters in flight, {args.assignments} assignments of 13 clips each "
                    f"(10 test, 2 gold, 1 trap); {args.retry_share:.0%} of submissions sent twice at once",
                    f"gunicorn (docker-compose.yml's command) {args.web_workers} processes × 4 threads, "
                    "PostgreSQL and Redis (cache) of this machine; the clients run on the same 2 cores "
                    f"(client CPU {client_cpu:.0f} s); 1-min load average at the end {load1:.2f}",
                    f"**{len(accepted)} ratings in {rating_wall:.1f} s = {len(accepted) / rating_wall:.1f} "
                    "ratings/s** (each rating = page + range request + submit)",
                    f"counted afterwards: stored {sum(stored_pairs.values())}, lost {lost}, unexpected "
                    f"{unexpected}, duplicated {duplicates}; {closed} of {n_assignments} assignments "
                    f"closed with a code; {server_errors} server errors",
                    f"serving phase {serve_wall:.0f} s, {len(serve_clients)} clients; {ranged} of "
                    f"{len(serve_timings['serve range'])} range requests answered 206",
                ],
                body=[
                    markdown_table(["request (rating phase)", "count", "p50 ms", "p99 ms"], rows),
                    "",
                    markdown_table(
                        ["request (serving phase)", "count", "per s", "p50 ms", "p99 ms"], serve_rows
                    ),
                ],
            )
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
