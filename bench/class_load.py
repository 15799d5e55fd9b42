"""A class drawing at once on one server: N students simulated at the wire while a run trains.

Usage: python bench/class_load.py [--students 10 30 60] [--seconds 60] [--period 2] [--json]
       python bench/class_load.py --replicas 2 [--students 120] [...]

Serves the app on loopback and starts one long chollet-512 run beside it with the CLI
(`python -m mnist_app train`, in its own process on the same cores and in the same run store, so
the server's own CPU time counts the students alone). Once it trains, for each class size in
turn: that many students, each a websocket client of Streamlit's protocol with a session of its
own (bench/wire.py), open the Draw page and replay the strokes and resets Chromium sent
(bench/sessions/draw.json): one stroke every --period seconds for --seconds, a reset after each
digit's last stroke as the recording has it, the students spread evenly over the period. A
stroke's time runs from sending its BackMsg to its script run's end; its reply must hold the
reading Chromium showed, else it is an error (so are a run that fails or a reply that never
comes in 30 s). A student waits for each reading before the next stroke.

Each class has a fresh server on the same run store, warmed by one student alone (loading the
model counts for none of them). Prints per class size: stroke → reading p50/p95, errors, the
server's CPU per stroke (its process's CPU time from /proc over the class, the resets between
digits included) and per event (a stroke or a reset), the load generator's own CPU apart, and
the server's memory per session (its resident size at the end, the class still on the page,
less before, over the students). Steps the class size up until p95 passes 1 s and prints that
knee. With --json the last line is the largest class's figures: {"students": …, "p50_ms": …,
"p95_ms": …, "errors": …, "server_cpu_ms_per_stroke": …, "training": …, …}.
Floor: 60 students p95 <= 500 ms, 0 errors.

--replicas N: the README's class server instead, started here: a PostgreSQL server and a local
Ray cluster (a head that trains nothing and one worker node of one CPU, whose warm trainer
trains the run beside the class), and N replicas of the app on both, each student staying on
one (student i on replica i mod N). The server CPU and memory figures are the replicas' summed.
Floor: 120 students over 2 replicas p95 <= 500 ms, 0 errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from served import ROOT, cpu_seconds, resident_mb, served_app, stop  # noqa: E402
from wire import Frame, Recording, Student, load_recording, xsrf_cookie  # noqa: E402

from mnist_app.engine.status import RunStatus  # noqa: E402
from mnist_app.runs.store import RunStore  # noqa: E402

KNEE_MS = 1000  # p95 past this: the class is too big for the server
FLOOR = {1: (60, 500), 2: (120, 500)}  # replicas: (students, p95 ms)
MOST_STUDENTS, MOST_SECONDS, MOST_REPLICAS = 300, 600, 4
TIMEOUT = 30  # s, a reply that never comes
OPENING_AT_ONCE = 8  # students opening the page at the same moment


@contextlib.contextmanager
def class_server(replicas: int) -> Iterator[dict[str, str]]:
    """The environment of the app's replicas: none for one replica on its own run store; else
    a PostgreSQL database and a Ray cluster started here (tests/services.py, as the suite's)."""
    if replicas == 1:
        yield {}
        return
    sys.path.insert(0, str(ROOT / "tests"))
    import services

    with services.postgres_server() as server, services.ray_cluster(workers=1) as cluster:
        url = services.new_database(server.url, "class_load")
        yield {"MNIST_LAB_DATABASE_URL": url, "MNIST_LAB_RAY_ADDRESS": cluster.address}


@contextlib.contextmanager
def training_beside(home: str, env: dict[str, str]) -> Iterator[RunStore]:
    """A chollet-512 run of 200 epochs started with the CLI in the app's run store (on the Ray
    cluster, if `env` names one); yields the store once its first batches are done (the CLI
    is stopped at the end)."""
    trainer = subprocess.Popen(
        [sys.executable, "-m", "mnist_app", "train", "--preset", "chollet-512", "--epochs", "200"],
        cwd=ROOT, env=dict(os.environ, MNIST_LAB_HOME=home, **env),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        store = RunStore(home, url=env.get("MNIST_LAB_DATABASE_URL"))
        deadline = time.monotonic() + 300
        while not any(run.live.get("samples_seen") for run in store.list()):
            if trainer.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the run beside the server did not start training")
            time.sleep(0.5)
        yield store
    finally:
        stop(trainer)


def still_training(store: RunStore) -> bool:
    return any(run.status == RunStatus.RUNNING for run in store.list())


class Tally:
    """What the students of one class measured."""

    def __init__(self) -> None:
        self.strokes: list[float] = []  # ms, stroke → reading
        self.resets: list[float] = []
        self.errors: list[str] = []


def cycle(recording: Recording) -> list[tuple[Frame, Frame | None]]:
    """Each recorded stroke with the reset that followed it, if one did."""
    frames = [f for f in recording.frames if f.kind in ("stroke", "reset")]
    return [
        (frame, frames[i + 1] if i + 1 < len(frames) and frames[i + 1].kind == "reset" else None)
        for i, frame in enumerate(frames)
        if frame.kind == "stroke"
    ]


async def one_student(student: Student, start: float, until: float, period: float,
                      tally: Tally) -> None:  # fmt: skip
    """Strokes at start, start + period, … until `until`; each digit's reset half-way after."""
    loop = asyncio.get_running_loop()
    pairs = cycle(student.recording)
    for k in itertools.count():
        at = start + k * period
        if at >= until:
            return
        stroke, reset = pairs[k % len(pairs)]
        await asyncio.sleep(max(0.0, at - loop.time()))
        try:
            reply = await student.send(stroke, TIMEOUT)
            if reply.errors or reply.reading != stroke.reading:
                tally.errors.append(f"{reply.reading} for {stroke.reading}: {reply.errors}")
            else:
                tally.strokes.append(reply.ms)
            if reset is not None:
                pause = min(reset.t - stroke.t, period / 2)  # as recorded, within the period
                await asyncio.sleep(max(0.0, at + pause - loop.time()))
                reply = await student.send(reset, TIMEOUT)
                if reply.errors or reply.reading is not None:  # a reset canvas shows no reading
                    tally.errors.append(f"reset: {reply.reading} {reply.errors}")
                else:
                    tally.resets.append(reply.ms)
        except (TimeoutError, OSError) as error:  # counted; this student's session is done
            tally.errors.append(repr(error))
            return


async def a_class(urls: list[str], recording: Recording, n: int, seconds: float, period: float,
                  servers: list[int]) -> dict:  # fmt: skip
    """n students open the Draw page, then draw for `seconds`; the class's figures. Student i
    is on replica i mod len(urls) (`servers`, their process ids)."""
    cookies = [xsrf_cookie(url) for url in urls]
    students = [Student(urls[i % len(urls)], recording, cookies[i % len(urls)]) for i in range(n)]
    opening = asyncio.Semaphore(OPENING_AT_ONCE)

    def cpu() -> float:
        return sum(cpu_seconds(server) for server in servers)

    def memory() -> float:
        return sum(resident_mb(server) for server in servers)

    memory_before = memory()

    async with contextlib.AsyncExitStack() as stack:

        async def open_page(student: Student) -> None:
            async with opening:
                await stack.enter_async_context(student)
                await student.open_page()

        await asyncio.gather(*(open_page(s) for s in students))
        tally, loop = Tally(), asyncio.get_running_loop()
        spent, own, wall = cpu(), time.process_time(), time.monotonic()
        begin = loop.time() + 0.5
        await asyncio.gather(*(
            one_student(s, begin + i * period / n, begin + seconds, period, tally)
            for i, s in enumerate(students)
        ))  # fmt: skip
        spent, own = cpu() - spent, time.process_time() - own
        wall = time.monotonic() - wall
        resident = memory()  # the class still on the page, every session after its strokes
    strokes, events = len(tally.strokes), len(tally.strokes) + len(tally.resets)
    p50, p95 = np.percentile(tally.strokes, [50, 95]).round(1).tolist() if strokes else (None, None)
    return {
        "students": n,
        "replicas": len(urls),
        "p50_ms": p50,  # None: no stroke got its reading
        "p95_ms": p95,
        "errors": len(tally.errors),
        "server_cpu_ms_per_stroke": round(1000 * spent / max(strokes, 1), 1),
        "training": None,  # filled in by the caller
        "strokes": strokes,
        "resets": len(tally.resets),
        "reset_p95_ms": round(float(np.percentile(tally.resets, 95)), 1) if tally.resets else None,
        "server_cpu_ms_per_event": round(1000 * spent / max(events, 1), 1),
        "server_cores": round(spent / wall, 2),
        "generator_cpu_ms_per_stroke": round(1000 * own / max(strokes, 1), 1),
        "generator_cores": round(own / wall, 2),
        "server_mb_per_session": round((resident - memory_before) / n, 2),
        "server_mb": round(resident),
        "seconds": round(wall, 1),
        "first_error": tally.errors[0] if tally.errors else None,
    }


async def warm_up(url: str, recording: Recording) -> None:
    """One student first, alone: the server loads the model and its modules once, not per
    session (it would count in the first class's memory per session)."""
    async with Student(url, recording) as student:
        await student.open_page()
        await student.send(recording.strokes[0], TIMEOUT)


def line(result: dict) -> str:
    return (
        f"{result['students']:4d} students on {result['replicas']} replica(s): stroke → reading "
        f"p50 {result['p50_ms']} ms  "
        f"p95 {result['p95_ms']} ms  ({result['strokes']} strokes, {result['resets']} "
        f"resets)  errors {result['errors']}  server CPU {result['server_cpu_ms_per_stroke']} ms "
        f"per stroke ({result['server_cpu_ms_per_event']} per event, {result['server_cores']} "
        f"of a core)  load generator {result['generator_cpu_ms_per_stroke']} ms per stroke "
        f"({result['generator_cores']} of a core)  memory {result['server_mb_per_session']} MB "
        f"per session ({result['server_mb']} MB)  training {result['training']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="+", default=[10, 20, 30, 45, 60, 90, 120])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--period", type=float, default=2.0, help="seconds between strokes")
    parser.add_argument("--replicas", type=int, default=1, help="app replicas (see above)")
    parser.add_argument("--json", action="store_true", help="the last class's figures, last")
    args = parser.parse_args()
    if not all(0 < n <= MOST_STUDENTS for n in args.students):
        parser.error(f"--students: 1 to {MOST_STUDENTS}")
    if not (0 < args.seconds <= MOST_SECONDS and args.period >= 0.5):
        parser.error(f"--seconds: up to {MOST_SECONDS}; --period: at least 0.5")
    if not 1 <= args.replicas <= MOST_REPLICAS:
        parser.error(f"--replicas: 1 to {MOST_REPLICAS}")
    recording = load_recording()
    home, results = tempfile.mkdtemp(prefix="mnist-lab-bench-"), []
    with class_server(args.replicas) as env, training_beside(home, env) as store:
        where = "on a Ray worker" if env else "beside the server"
        print(f"{args.replicas} replica(s); a chollet-512 run trains {where}; one stroke every "
              f"{args.period:g} s for {args.seconds:g} s per student", file=sys.stderr)  # fmt: skip
        for n in sorted(args.students):
            with contextlib.ExitStack() as replicas:  # fresh servers for each class, same store
                processes: list = []
                urls = [replicas.enter_context(served_app(env, processes, home))
                        for _ in range(args.replicas)]  # fmt: skip
                for url in urls:
                    asyncio.run(warm_up(url, recording))
                result = asyncio.run(a_class(urls, recording, n, args.seconds, args.period,
                                             [p.pid for p in processes]))  # fmt: skip
            result["training"] = still_training(store)
            results.append(result)
            print(line(result), file=sys.stderr if args.json else sys.stdout, flush=True)
            if not passes(result):
                break
    report(results, args.replicas, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(results[-1]))


def passes(result: dict) -> bool:
    return result["p95_ms"] is not None and result["p95_ms"] <= KNEE_MS


def report(results: list[dict], replicas: int, out) -> None:
    """The knee: the largest class under 1 s at p95, the first over; the floor, if measured."""
    under = [r["students"] for r in results if passes(r)]
    over = [r["students"] for r in results if not passes(r)]
    if over:
        print(f"knee: p95 passes {KNEE_MS} ms between {max(under, default=0)} and {over[0]} "
              "students", file=out)  # fmt: skip
    else:
        print(f"knee: not reached (p95 <= {KNEE_MS} ms up to {max(under)} students)", file=out)
    students, most_ms = FLOOR.get(replicas, (None, None))
    for r in results:
        if r["students"] == students:
            ok = passes(r) and r["p95_ms"] <= most_ms and r["errors"] == 0 and r["training"]
            print(f"floor ({students} students over {replicas} replica(s) p95 <= {most_ms} ms, "
                  f"0 errors, a run training): {'ok' if ok else 'MISSED'}", file=out)  # fmt: skip


if __name__ == "__main__":
    main()
