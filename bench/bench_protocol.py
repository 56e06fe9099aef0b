"""Benchmark: the generation protocol end to end on the CPU, through real Celery workers.

Issue 5 asks for the wall time and samples/s of the full protocol (ground truth + baseline + proposed
+ the 4 inference-time ablation variants: realism, alignment, timbre and ablation sets, Appendix D)
with 1 and 2 worker processes. This script drives the real path, every step a management command in
a subprocess, against PostgreSQL and Redis:

1. creates a throw-away PostgreSQL database (dropped at the end) and migrates it;
2. ``make_synthvas`` (in-process): builds SynthVAS, or re-imports the clips already under
   ``var/bench/protocol/media`` (the generator skips finished clips), 50 clips per category so that
   the test split (round(0.2 n) = 10 clips) holds the protocol's full counts;
3. ``train --steps 1`` for both systems (in-process): tiny checkpoints, registered. Generation speed
   does not depend on the weights;
4. for each mode, ``manage.py generate --dataset ... --categories ...`` (GT, baseline, proposed and the
   4 variants, the command's defaults):
   - ``eager``: no broker, every task runs inside the command's process (the embedded default);
   - ``N`` (a number): ``celery --workdir platform -A config worker -Q gpu,cpu,default --concurrency N``
     (one worker, N prefork processes; ``--layout separate`` starts N workers of concurrency 1
     instead) on Redis, started before and stopped (its whole process group) after the command.
   Each process gets ``--threads`` torch/OpenMP threads, by default nproc // N, so that N processes
   use the cores without oversubscribing them (OMP_NUM_THREADS / MKL_NUM_THREADS);
5. reads the run back from the database (status, started/finished, Sample counts by system, task and
   status) and reports wall time (the command's, from launch to its exit), samples/s (every Sample row,
   alignment ones included), vocoded samples/s (rows that went through the vocoder: all but alignment,
   which reuses the realism audio) and vocoded audio-seconds per second, the CPU seconds used by the
   command and the workers, per-category time, and an 8-category extrapolation (per-category time x 8,
   clearly labelled: model loads and the finalize step do not scale with categories, so it is a little
   pessimistic).

The full 8-category protocol takes over an hour per mode on 2 cores; ``--categories`` and ``--seconds``
scale it down. Appends a section to docs/benchmarks.md.

    .venv/bin/python bench/bench_protocol.py --categories dog,drum --modes 1,2,eager
    .venv/bin/python bench/bench_protocol.py --categories dog --clips-per-category 10 --seconds 2 \\
        --modes 1 --protocol-counts 2,1,1,2 --no-record                     # a smoke test
"""

from __future__ import annotations

import argparse
import atexit
import os
import resource
import secrets
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _report import append_section, command_line, markdown_table, section, utc_now  # noqa: E402

PYTHON = (
    str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CODE = [REPO]  # the checkout whose manage.py and workers run (--baseline runs an older one first)
ALL_CATEGORIES = ("baby", "cough", "dog", "drum", "fireworks", "gun", "hammer", "sneeze")


# --- processes -------------------------------------------------------------------------------------


class Processes:
    """Every worker this script starts, each in its own process group, stopped however we exit."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen] = []
        atexit.register(self.stop_all)

    def start(self, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        handle = log.open("w")
        process = subprocess.Popen(
            args, cwd=CODE[0], env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        handle.close()
        self.running.append(process)
        return process

    def stop(self, process: subprocess.Popen, timeout_s: float = 60.0) -> None:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)  # warm shutdown of the worker and its pool
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            except ProcessLookupError:
                pass
        # Pool children or ffmpeg left behind in the group (the group outlives its leader).
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if process in self.running:
            self.running.remove(process)

    def stop_all(self) -> None:
        for process in list(self.running):
            self.stop(process, timeout_s=30.0)


def group_cpu_seconds(pgid: int) -> float:
    """utime + stime of every live process of a process group, plus what their reaped children used."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state (field 3 of stat); pgrp is field 5, utime..cstime fields 14-17.
        if int(fields[2]) == pgid:
            total += sum(int(x) for x in fields[11:15])
    return total / CLOCK_TICKS


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def manage(
    args: list[str],
    env: dict[str, str],
    log: Path,
    timeout_s: float | None = None,
    profile: Path | None = None,
) -> float:
    """Run ``manage.py <args>`` (under cProfile into ``profile`` if given); its output goes to ``log``.
    Returns the wall time; raises on failure."""
    started = time.perf_counter()
    profiler = ["-m", "cProfile", "-o", str(profile)] if profile else []
    with log.open("a") as handle:
        handle.write(f"\n$ manage.py {' '.join(args)}\n")
        handle.flush()
        result = subprocess.run(
            [PYTHON, *profiler, "manage.py", *args],
            cwd=CODE[0],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            timeout=timeout_s,
        )
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"manage.py {' '.join(args)} failed ({result.returncode}); log {log}:\n{tail}")
    return time.perf_counter() - started


# --- services --------------------------------------------------------------------------------------


@dataclass
class Services:
    postgres: str  # postgres://user@host:port (no database)
    broker: str
    database: str
    key_prefix: str

    @property
    def database_url(self) -> str:
        return f"{self.postgres}/{self.database}"

    def _admin(self):
        import psycopg2

        connection = psycopg2.connect(f"{self.postgres}/postgres")
        connection.autocommit = True
        return connection

    def create_database(self) -> None:
        connection = self._admin()  # no `with connection`: psycopg2 would open a transaction
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            connection.close()

    def drop_database(self) -> None:
        connection = self._admin()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            connection.close()

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        import psycopg2

        connection = psycopg2.connect(self.database_url)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()
        finally:
            connection.close()

    def clear_broker(self) -> int:
        import redis

        client = redis.Redis.from_url(self.broker)
        keys = list(client.scan_iter(f"{self.key_prefix}:*"))
        if keys:
            client.delete(*keys)
        return len(keys)


# --- one mode --------------------------------------------------------------------------------------


@dataclass
class ModeResult:
    mode: str
    processes: int
    code: str
    threads: int
    wall_s: float
    run_s: float | None  # started_at -> finished_at of the GenerationRun row
    cpu_s: float
    status: str
    samples: int
    succeeded: int
    failed: int
    vocoded: int  # samples that went through the vocoder (not alignment, not reused ground truth)
    reused: int = 0  # ground-truth samples copied from the vocoded-ground-truth cache
    profile: str = ""  # the top of the cProfile of an eager run (--profile)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (system, task) -> succeeded rows
    worker_start_s: float | None = None
    load: tuple[float, float] = (0.0, 0.0)  # 1-min load average when the command started and ended


def wait_ready(process: subprocess.Popen, log: Path, timeout_s: float = 180.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if process.poll() is not None:
            raise RuntimeError(
                f"the worker exited ({process.returncode}); log {log}:\n{log.read_text()[-3000:]}"
            )
        if " ready." in log.read_text(errors="replace"):
            return time.perf_counter() - started
        time.sleep(0.5)
    raise RuntimeError(f"the worker was not ready after {timeout_s:.0f} s; log {log}")


def run_mode(
    mode: str,
    *,
    args: argparse.Namespace,
    base_env: dict[str, str],
    services: Services,
    procs: Processes,
    dataset: str,
    logs: Path,
) -> ModeResult:
    n = 0 if mode == "eager" else int(mode)
    cores = os.cpu_count() or 1
    threads = args.threads or max(1, cores // max(n, 1))
    env = {**base_env, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    name = f"bench-{mode}-{uuid.uuid4().hex[:6]}"
    generate = [
        "generate",
        "--dataset",
        dataset,
        "--categories",
        ",".join(args.category_list),
        "--name",
        name,
        "--batch-size",
        str(args.batch_size),
    ]
    if args.protocol_counts:
        realism, references, videos, ablation = args.protocol_counts
        generate += [
            "--realism",
            str(realism),
            "--timbre-references",
            str(references),
            "--timbre-videos",
            str(videos),
            "--ablation-pairs",
            str(ablation),
        ]
    workers: list[subprocess.Popen] = []
    worker_start = None
    log = logs / f"generate-{mode}.log"
    cpu_before = children_cpu_seconds()
    load_before = os.getloadavg()[0]
    profile = logs / f"generate-{mode}.prof" if args.profile and n == 0 else None
    if n == 0:
        wall = manage(generate, env, log, timeout_s=args.timeout_min * 60, profile=profile)
        cpu = children_cpu_seconds() - cpu_before
    else:
        env = {**env, "CELERY_BROKER_URL": services.broker}
        layout = [(n, "w0")] if args.layout == "prefork" else [(1, f"w{i}") for i in range(n)]
        try:
            started = time.perf_counter()
            for concurrency, label in layout:
                worker_log = logs / f"worker-{mode}-{label}.log"
                workers.append(
                    procs.start(
                        [
                            PYTHON,
                            "-m",
                            "celery",
                            "--workdir",
                            "platform",
                            "-A",
                            "config",
                            "worker",
                            "-Q",
                            "gpu,cpu,default",
                            "--concurrency",
                            str(concurrency),
                            "--hostname",
                            f"bench-{mode}-{label}-{uuid.uuid4().hex[:6]}@localhost",
                            "--without-gossip",
                            "--without-mingle",
                            "--loglevel",
                            "INFO",
                        ],
                        env,
                        worker_log,
                    )
                )
                wait_ready(workers[-1], worker_log)
            worker_start = time.perf_counter() - started
            load_before = os.getloadavg()[0]
            wall = manage(generate, env, log, timeout_s=args.timeout_min * 60)
            cpu = children_cpu_seconds() - cpu_before + sum(group_cpu_seconds(w.pid) for w in workers)
        finally:
            for worker in workers:
                procs.stop(worker)
    rows = services.query(
        "SELECT id, status, started_at, finished_at FROM registry_generationrun WHERE name = %s", (name,)
    )
    if not rows:
        raise RuntimeError(f"no generation run named {name!r} in the database")
    run_id, status, started_at, finished_at = rows[0]
    counts_rows = services.query(
        "SELECT system, task, status, coalesce(provenance->>'reused', 'false') = 'true', count(*) "
        "FROM registry_sample WHERE run_id = %s GROUP BY 1, 2, 3, 4",
        (run_id,),
    )
    counts: dict[tuple[str, str], int] = {}
    samples = succeeded = failed = vocoded = reused = 0
    for system, task, sample_status, was_reused, count in counts_rows:
        samples += count
        if sample_status == "succeeded":
            succeeded += count
            counts[(system, task)] = counts.get((system, task), 0) + count
            if task != "alignment":
                if was_reused:
                    reused += count
                else:
                    vocoded += count
        elif sample_status == "failed":
            failed += count
    run_s = (finished_at - started_at).total_seconds() if started_at and finished_at else None
    return ModeResult(
        mode=mode,
        code=args.code_label,
        processes=n,
        threads=threads,
        wall_s=wall,
        run_s=run_s,
        cpu_s=cpu,
        status=status,
        samples=samples,
        succeeded=succeeded,
        failed=failed,
        vocoded=vocoded,
        reused=reused,
        profile=top_of_profile(profile) if profile else "",
        counts=counts,
        worker_start_s=worker_start,
        load=(load_before, os.getloadavg()[0]),
    )


def top_of_profile(path: Path, lines: int = 15) -> str:
    """The functions that took the most time of their own (tottime), as a markdown table."""
    import pstats

    stats = pstats.Stats(str(path))
    total = stats.total_tt
    rows = []
    entries = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:lines]  # type: ignore[attr-defined]
    for (filename, line, name), (_, calls, tottime, cumtime, _) in entries:
        where = filename.split("site-packages/")[-1] if "site-packages/" in filename else Path(filename).name
        rows.append(
            [
                f"`{name}` ({where}:{line})",
                calls,
                f"{tottime:.1f}",
                f"{100 * tottime / total:.0f} %",
                f"{cumtime:.1f}",
            ]
        )
    return markdown_table(["function (own time)", "calls", "tottime s", "share", "cumtime s"], rows)


# --- report ----------------------------------------------------------------------------------------


def describe_mode(result: ModeResult, layout: str) -> str:
    if result.processes == 0:
        return f"eager (in-process), {result.threads} threads"
    started = f" (ready in {result.worker_start_s:.0f} s, not counted)" if result.worker_start_s else ""
    if layout == "prefork" or result.processes == 1:
        return f"1 worker, --concurrency {result.processes}, {result.threads} thread(s) each{started}"
    return f"{result.processes} workers of concurrency 1, {result.threads} thread(s) each{started}"


def results_table(results: list[ModeResult], *, categories: int, seconds: float, layout: str) -> str:
    rows = []
    for r in results:
        per_category = r.wall_s / categories
        rows.append(
            [
                r.code,
                describe_mode(r, layout),
                r.status,
                f"{r.succeeded} / {r.samples}" + (f" ({r.failed} failed)" if r.failed else ""),
                f"{r.wall_s:.0f}",
                f"{r.run_s:.0f}" if r.run_s is not None else "-",
                f"{r.succeeded / r.wall_s:.3f}",
                f"{r.vocoded / r.wall_s:.3f}",
                f"{r.vocoded * seconds / r.wall_s:.2f}",
                f"{r.vocoded} ({r.reused})",
                f"{r.cpu_s:.0f} ({r.cpu_s / r.wall_s:.2f} cores)",
                f"{per_category / 60:.1f}",
                f"{8 * per_category / 60:.0f}",
                f"{r.load[0]:.1f} → {r.load[1]:.1f}",
            ]
        )
    return markdown_table(
        [
            "code",
            "mode",
            "run status",
            "samples succeeded / rows",
            "wall s (command)",
            "run s (database)",
            "samples/s",
            "vocoded samples/s",
            "vocoded audio-s per s",
            "vocoder calls (ground truth reused)",
            "CPU s (cores busy)",
            "min per category (wall / categories)",
            "EXTRAPOLATED min for 8 categories",
            "1-min load average, start → end",
        ],
        rows,
    )


def counts_table(result: ModeResult, categories: int) -> str:
    systems = sorted({s for s, _ in result.counts}, key=lambda s: (s != "ground_truth", s != "baseline", s))
    tasks = ["realism", "alignment", "timbre", "ablation"]
    rows = []
    for system in systems:
        cells = [str(result.counts.get((system, t), 0) // categories) for t in tasks]
        rows.append([system, *cells])
    return markdown_table(["system (succeeded samples per category)", *tasks], rows)


def baseline_checkout(rev: str, root: Path) -> Path:
    """A detached worktree of ``rev`` beside the benchmark's data (the same venv runs it)."""
    target = root / "baseline" / rev.replace("/", "_")
    if not (target / "manage.py").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", "--force", str(target), rev], check=True
        )
    return target


def run_code(
    args: argparse.Namespace, modes: list[str]
) -> tuple[list[ModeResult], dict[str, float], Services]:
    """Set up a database, the data and the checkpoints for the checkout in CODE[0], then run each mode.
    Each checkout starts with an empty inference cache (converted vocoder, vocoded ground truth): its
    first mode vocodes every ground-truth clip, later modes may reuse them as later runs would."""
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
    services = Services(
        postgres=args.postgres.rstrip("/"),
        broker=args.broker,
        database=f"bench_protocol_{tag.replace('-', '_')}",
        key_prefix=f"bench-protocol-{tag}",
    )
    root = args.root.resolve()
    logs = root / "logs" / tag
    logs.mkdir(parents=True, exist_ok=True)
    base_env = {
        **{k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")},
        "DATABASE_URL": services.database_url,
        "CELERY_KEY_PREFIX": services.key_prefix,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DJANGO_DEBUG": "1",
        "MEDIA_ROOT": str(root / "media"),
        "VAR_DIR": str(root / "var"),
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": str(os.cpu_count() or 1),
        "INFERENCE_CACHE_DIR": str(root / "var" / f"cache-{tag}"),
    }
    procs = Processes()
    # A Ctrl-C or kill of this script still stops the workers (atexit runs on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    dataset = f"bench-protocol-{len(args.category_list)}cat-{args.clips_per_category}x{args.seconds:g}s"
    setup: dict[str, float] = {}
    results: list[ModeResult] = []
    services.create_database()
    print(f"database {services.database}, logs in {logs}", flush=True)
    try:
        setup_log = logs / "setup.log"
        setup["migrate"] = manage(["migrate", "--noinput"], base_env, setup_log)
        setup["make_synthvas (build or re-import)"] = manage(
            [
                "make_synthvas",
                "--clips-per-category",
                str(args.clips_per_category),
                "--seconds",
                f"{args.seconds:g}",
                "--categories",
                ",".join(args.category_list),
                "--name",
                dataset,
            ],
            base_env,
            setup_log,
        )
        for system in ("varietysound", "cascade"):
            setup[f"train {system} --steps 1"] = manage(
                ["train", "--system", system, "--preset", "tiny", "--dataset", dataset, "--steps", "1"],
                base_env,
                setup_log,
            )
        print("set-up: " + ", ".join(f"{k} {v:.0f} s" for k, v in setup.items()), flush=True)
        for mode in modes:
            print(f"mode {mode}: running the protocol on {','.join(args.category_list)}", flush=True)
            result = run_mode(
                mode, args=args, base_env=base_env, services=services, procs=procs, dataset=dataset, logs=logs
            )
            results.append(result)
            print(
                f"  {mode}: {result.status}, {result.succeeded}/{result.samples} samples, {result.wall_s:.0f} s wall, "
                f"{result.succeeded / result.wall_s:.3f} samples/s, {result.cpu_s:.0f} CPU s",
                flush=True,
            )
    finally:
        procs.stop_all()
        cleared = services.clear_broker()
        if not args.keep_database:
            services.drop_database()
        print(
            f"stopped every worker; removed {cleared} broker keys; database "
            + ("kept" if args.keep_database else "dropped"),
            flush=True,
        )

    return results, setup, services


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--categories", default="dog,drum", help="comma-separated, or 'all' (the full protocol)"
    )
    parser.add_argument("--clips-per-category", type=int, default=50, help="50: 10 test clips per category")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--modes", default="1,2,eager", help="comma-separated: worker processes, or 'eager'")
    parser.add_argument("--layout", choices=["prefork", "separate"], default="prefork")
    parser.add_argument("--threads", type=int, help="torch threads per process (default: nproc // processes)")
    parser.add_argument("--batch-size", type=int, default=16, help="generate --batch-size (its default: 16)")
    parser.add_argument(
        "--protocol-counts",
        type=lambda s: tuple(int(x) for x in s.split(",")),
        help="realism,timbre-references,timbre-videos,ablation-pairs (default: the paper's 10,5,3,10)",
    )
    parser.add_argument("--root", type=Path, default=REPO / "var" / "bench" / "protocol")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--timeout-min", type=float, default=240.0, help="per generate command")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--no-record", action="store_true", help="do not append to docs/benchmarks.md")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="first run the same modes on git revision REV (a worktree): before/after",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the eager mode; its top goes in the report"
    )
    args = parser.parse_args()
    args.category_list = (
        list(ALL_CATEGORIES)
        if args.categories == "all"
        else [c.strip() for c in args.categories.split(",") if c.strip()]
    )
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for mode in modes:
        if mode != "eager" and not (mode.isdigit() and int(mode) >= 1):
            parser.error(f"--modes: {mode!r} is neither 'eager' nor a number of processes")

    codes: list[tuple[Path, str]] = []
    if args.baseline:
        codes.append((baseline_checkout(args.baseline, args.root.resolve()), f"before ({args.baseline})"))
    codes.append((REPO, "this checkout" if args.baseline else ""))
    load_before = os.getloadavg()[0]
    results: list[ModeResult] = []
    setups: list[str] = []
    for code, label in codes:
        CODE[0] = code
        args.code_label = label
        done, setup, services = run_code(args, modes)
        results += done
        setups.append((f"{label}: " if label else "") + ", ".join(f"{k} {v:.0f} s" for k, v in setup.items()))
    CODE[0] = REPO

    categories = len(args.category_list)
    counts = args.protocol_counts or (10, 5, 3, 10)
    bullets = [
        "protocol: GT (vocoded) + baseline + proposed + the 4 inference-time variants (`manage.py generate`'s "
        f"systems); per category realism {counts[0]} clips, timbre {counts[1]} references x {counts[2]} videos, "
        f"ablation {counts[3]} pairs"
        + (" (the paper's full counts)" if counts == (10, 5, 3, 10) else " (reduced counts)")
        + f", batch size {args.batch_size}; {categories} "
        + ("category" if categories == 1 else "categories")
        + " "
        f"({', '.join(args.category_list)}) of SynthVAS, {args.clips_per_category} clips x {args.seconds:g} s per "
        "category; 1-step tiny checkpoints of both systems (speed does not depend on training); "
        "pretrained HiFi-GAN on the CPU",
        "services: PostgreSQL 127.0.0.1 (a database created for the run and dropped after it), Redis "
        f"`{args.broker}` with a key prefix of its own per checkout; workers: `celery --workdir platform -A config "
        "worker -Q gpu,cpu,default` "
        + (
            "--concurrency N (one worker, N prefork processes)"
            if args.layout == "prefork"
            else "x N, concurrency 1"
        )
        + "; OMP_NUM_THREADS = MKL_NUM_THREADS = "
        + (f"{args.threads}" if args.threads else "nproc // processes")
        + " per process",
        "wall s: from launching `manage.py generate` to its exit (it waits for the run), worker start-up "
        "excluded; run s: the run row's started_at -> finished_at; samples/s counts every Sample row (alignment "
        "ones reuse the realism audio, muxed); vocoded samples/s and audio-s per s count the rows that went "
        "through model + vocoder; CPU s: the command plus every process of the workers' groups",
        "set-up (not in the figures): " + "; ".join(setups),
        "vocoder calls: the non-alignment samples that went through the vocoder; in brackets the ground-truth "
        "samples copied from the cache of vocoded ground truth instead (each checkout starts with it empty)",
        "EXTRAPOLATED 8-category figure = 8 x (wall / categories); it assumes time grows linearly with "
        "categories (model loads and finalize do not, so it slightly overestimates); it was not measured",
        f"1-min load average {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end on "
        f"{os.cpu_count()} cores; no GPU on this machine (the GPU figures the issue asks for need one)",
    ]
    body = [results_table(results, categories=categories, seconds=args.seconds, layout=args.layout)]
    if results:
        body += ["", counts_table(results[-1], categories)]
    for r in results:
        if r.profile:
            body += [
                "",
                f"Top of the profile, {r.code or 'this checkout'}, mode {r.mode} (cProfile, own time):",
                "",
                r.profile,
            ]
    text = section(
        "Generation protocol end to end on the CPU, Celery workers on PostgreSQL + Redis",
        date=utc_now(),
        command=command_line("bench_protocol.py"),
        bullets=bullets,
        body=body,
    )
    print()
    print(text)
    if not args.no_record and results:
        append_section(text)
    bad = [r for r in results if r.status != "succeeded" or r.failed]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
