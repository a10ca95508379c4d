"""`python -m infra.local.tick status_poll`: fire a schedule of the running local stack now.

Invokes the schedule's function with the schedule's input, as EventBridge Scheduler
would (in a container of its own, against the stack's moto server); for the status
poller it then waits until the cycles it queued have run in the stack and prints what
each did (the poll state's ``last_cycle``). `make run` fires the schedules at their
rates by itself; this is for "now".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.local.schedules import Schedule, fire, schedules
from infra.local.show import DEFAULT_STATE_FILE, ShowError, load_state, point_at_stack
from infra.local.template import ROOT, Stack, load_template
from infra.local.worker import FunctionWorker, InvocationError, function_settings, lambda_environment

if TYPE_CHECKING:
    from collections.abc import Sequence


class TickFailed(RuntimeError):
    """The command exited with an error; its message is the end of what it wrote to stderr."""


def tick_command(
    state_file: str | Path, function: str = "status_poll", timeout: float = 180.0
) -> list[dict[str, Any]]:
    """This module's command as a newcomer runs it, in a process of its own: its JSON lines
    (what it fired, then each tenant's cycle)."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "infra.local.tick", function, "--state-file", str(state_file)],
        cwd=ROOT,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise TickFailed(done.stderr.decode(errors="replace")[-3000:])
    return [json.loads(line) for line in done.stdout.decode().splitlines() if line.startswith("{")]


def stack_of(state: dict[str, Any]) -> Stack:
    """The running stack's template as `make run` resolved it (its parameters are in the state)."""
    return Stack(
        name=state["stack_name"],
        region=state["region"],
        template=load_template(),
        parameters=dict(state.get("stack_parameters") or {}),
    )


def chosen(stack: Stack, name: str) -> Schedule:
    """The schedule of the function ``name`` names: its logical id or its handler's module."""
    for schedule in schedules(stack):
        module = stack.function_handler(schedule.function).split(".", 1)[0]
        if name in {schedule.function, module, schedule.name}:
            return schedule
    known = ", ".join(stack.function_handler(s.function).split(".", 1)[0] for s in schedules(stack))
    raise SystemExit(f"tick: no schedule for {name!r} in template.yaml (there are: {known or 'none'})")


def _cycle_after(stack_state: dict[str, Any], tenant_id: str, since: datetime) -> dict[str, Any] | None:
    """The tenant's last poll cycle, if it started after ``since`` (after ``point_at_stack``)."""
    from dealwire.store.polling import PollStateStore  # noqa: PLC0415 - functions/ is on the path now

    polled = PollStateStore(stack_state["table_name"]).state(tenant_id)
    last = polled.last_cycle if polled else None
    started = str((last or {}).get("started_at", ""))
    if not started or datetime.fromisoformat(started[:26] + "+00:00") < since:
        return None
    return last


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.tick", description=__doc__.splitlines()[0])
    parser.add_argument("function", help="the scheduled function: status_poll")
    parser.add_argument("--state-file", type=Path, default=DEFAULT_STATE_FILE)
    parser.add_argument("--verbose", action="store_true", help="show the scheduled function's log")
    parser.add_argument(
        "--wait", type=float, default=120.0, help="seconds to wait for the cycles (0: do not)"
    )
    args = parser.parse_args(argv)
    try:
        state = load_state(args.state_file)
    except ShowError as exc:
        sys.stderr.write(f"tick: {exc}\n")
        return 2
    point_at_stack(state)  # this process reads the poll state from the stack's moto
    stack = stack_of(state)
    schedule = chosen(stack, args.function)
    timeout, _ = function_settings(stack, schedule.function)
    started = datetime.now(UTC).replace(microsecond=0)
    worker = FunctionWorker(
        schedule.function,
        stack.function_handler(schedule.function),
        lambda_environment(stack, schedule.function, state["aws_endpoint_url"]),
        timeout_seconds=timeout,
        stderr=None if args.verbose else subprocess.DEVNULL,
    )
    try:
        answer = fire(schedule, worker)
    except InvocationError as exc:
        sys.stderr.write(f"tick: {schedule.function} failed: {exc.summary}\n")
        return 1
    finally:
        worker.close()
    sys.stdout.write(json.dumps({"fired": schedule.function, "answer": answer}) + "\n")
    if args.wait <= 0 or stack.function_handler(schedule.function).split(".", 1)[0] != "status_poll":
        return 0
    tenants = [state["tenant_id"]]
    deadline = time.monotonic() + args.wait
    done: dict[str, dict[str, Any]] = {}
    while len(done) < len(tenants) and time.monotonic() < deadline:
        for tenant in tenants:
            if tenant not in done and (cycle := _cycle_after(state, tenant, started)) is not None:
                done[tenant] = cycle
        time.sleep(0.5)
    for tenant in tenants:
        sys.stdout.write(json.dumps({"tenant": tenant, "cycle": done.get(tenant)}) + "\n")
    if len(done) < len(tenants):
        sys.stderr.write(f"tick: no cycle finished within {args.wait:.0f} s (is `make run` up?)\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
