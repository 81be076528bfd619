"""Laurels against the yardstick (issue 14): the update path as
`../shared/perf/compare.py` measures it, and the events path beside it, in one run.

1. `compare.py` runs the yardstick (`../shared/perf/baseline.py`: FastAPI, pydantic and
   one max-upsert per request, same durability) and `laurels serve` side by side with
   wrk: the same random mix of updates, a game-server token, the same connections
   and duration. Its lines are printed as they are.
2. Then a fresh `laurels serve` (same database kind, workers, connections and
   duration) with an event-based title gets `POST /users/xuid(X)/events` with 1 and
   with 10 events per request from wrk (player 1..50,000, unique event ids, a sum stat
   and 20 achievements at 10, 20, ... 200), and the figures are printed beside the
   yardstick's update figures from step 1.

    python3 bench/yardstick.py --db sqlite --workers 1
    python3 bench/yardstick.py --db pg --workers 2
    python3 bench/yardstick.py --db sqlite --conns 1000

Run from the project's root after the README's install; needs wrk (Debian `wrk`) and
the shared yardstick beside the project (`--perf` names another place). The machine is
shared and noisy: compare figures of one run only. Every server it starts is stopped
and every database it creates is dropped.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PERF = ROOT.parent / "shared" / "perf"
TITLE, SCID = 5678, "6a2e0100-0000-0000-0000-0000be4c0014"

EVENTS_CONFIG = (
    f"title:\n  id: {TITLE}\n  name: Bench Arena\n  scid: {SCID}\n  defaultLocale: en-US\n"
    "  kind: event-based\n"
    "events:\n  - name: Hit\n    measurements: [count]\n"
    "stats:\n  - name: Hits\n    event: Hit\n    measurement: count\n    aggregate: sum\n"
    "achievements:\n"
    + "".join(
        f'  - id: "{n}"\n    name: Hits {n}\n    lockedDescription: Hit {10 * n} times.\n'
        f"    description: You hit {10 * n} times.\n    gamerscore: 5\n"
        f"    requirements: [{{stat: Hits, target: {10 * n}}}]\n"
        for n in range(1, 21)
    )
)

# One request: `PER` events of one random player, each id unique in the run.
EVENTS_LUA = r"""
local token = os.getenv("LAURELS_TOKEN")
local per = tonumber(os.getenv("EVENTS_PER_REQUEST"))
c200, cother, sent = 0, 0, 0
local threads, counter, run = {}, 0, ""
function setup(t) table.insert(threads, t) end
function init(args)
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1e6))
  run = string.format("%x", math.random(1, 2^30))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["x-xbl-contract-version"] = "2"
  wrk.headers["Authorization"] = "Bearer " .. token
end
function request()
  local x = math.random(1, 50000)
  local events = {}
  for i = 1, per do
    counter = counter + 1
    events[i] = string.format('{"id":"%s-%d","name":"Hit","measurements":{"count":%d}}',
      run, counter, math.random(1, 3))
  end
  local body = string.format('{"titleId":%d,"events":[%s]}', TITLE, table.concat(events, ","))
  return wrk.format(nil, string.format("/users/xuid(%d)/events", x), nil, body)
end
function response(status, headers, body)
  if status == 200 then c200 = c200 + 1 else cother = cother + 1 end
end
function done(summary, latency, requests)
  local a, c = 0, 0
  for _, t in ipairs(threads) do a = a + t:get("c200"); c = c + t:get("cother") end
  io.write(string.format("STATUS 200=%d 304=0 other=%d\n", a, c))
end
""".replace("TITLE", str(TITLE))


def yardstick(args: argparse.Namespace) -> tuple[str, float, float]:
    """compare.py's output, and the yardstick's req/s and p99 (ms) from it."""
    command = [sys.executable, str(args.perf / "compare.py"), "--db", args.db,
               "--workers", str(args.workers), "--duration", str(args.duration),
               "--conns", str(args.conns), "--venv", str(args.venv)]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT).stdout
    found = re.search(r"^baseline: (\d+) req/s p99 ([\d.]+) ms", out, re.M)
    if found is None:
        raise SystemExit(f"compare.py printed no baseline line:\n{out}")
    return out.strip(), float(found.group(1)), float(found.group(2))


def events_run(args: argparse.Namespace, compare: Any, per: int) -> tuple[Any, ...]:
    """(req/s, p99 ms, statuses, largest process MB) of the events path."""
    lbin = str(args.venv / "bin" / "laurels")
    with tempfile.TemporaryDirectory() as tmp:
        dbname = compare.pg_createdb() if args.db == "pg" else None
        url = (
            f"postgresql://postgres@127.0.0.1:5432/{dbname}"
            if dbname
            else f"sqlite:///{tmp}/laurels.db"
        )
        env = dict(os.environ, LAURELS_DATABASE_URL=url)
        try:
            config = Path(tmp) / "arena.yaml"
            config.write_text(EVENTS_CONFIG)
            for command in (
                ["config", "import", str(config)],
                ["config", "publish", "--title-id", str(TITLE), "--sandbox", "DEV.1"],
            ):
                subprocess.run([lbin, *command], env=env, check=True, capture_output=True)
            token = subprocess.run(
                [lbin, "token", "--server", "--title-id", str(TITLE), "--sandbox", "DEV.1",
                 "--ttl", "3600"], env=env, check=True, capture_output=True, text=True,
            ).stdout.split()[-1]  # fmt: skip
            port = compare.free_port()
            with open(Path(tmp) / "laurels.log", "w") as log:
                proc = subprocess.Popen(
                    [lbin, "serve", "--host", "127.0.0.1", "--port", str(port),
                     "--workers", str(args.workers)],
                    env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            try:
                compare.wait_port(port, proc)
                lua = Path(tmp) / "events.lua"
                lua.write_text(EVENTS_LUA)
                wrk_env = dict(os.environ, LAURELS_TOKEN=token, EVENTS_PER_REQUEST=str(per))
                compare.wrk(port, str(lua), "/", 2, args.conns, wrk_env)  # warm-up
                found = compare.wrk(port, str(lua), "/", args.duration, args.conns, wrk_env)
                return (*found, compare.rss_mb(proc.pid))
            finally:
                compare.stop(proc)
        finally:
            if dbname:
                compare.pg_dropdb(dbname)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "pg"], default="sqlite")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--conns", type=int, default=64)
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv")
    parser.add_argument("--perf", type=Path, default=PERF, help="where compare.py is")
    args = parser.parse_args()
    args.venv = args.venv.resolve()
    sys.path.insert(0, str(args.perf))
    import compare  # type: ignore[import-not-found]  # the yardstick's helpers

    printed, base_rps, base_p99 = yardstick(args)
    print(printed)
    for per in (1, 10):
        rps, p99, statuses, rss = events_run(args, compare, per)
        print(
            f"laurels events x{per}: {rps:.0f} req/s ({rps * per:.0f} events/s) p99 "
            f"{p99:.1f} ms status 200/304/other {statuses} largest process {rss:.0f} MB; "
            f"against the yardstick's update: req/s {rps / base_rps:.2f}, "
            f"p99 {p99 / base_p99:.2f}"
        )


if __name__ == "__main__":
    main()
