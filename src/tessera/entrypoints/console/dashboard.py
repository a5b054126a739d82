"""The dashboard: the last 24 hours' redemptions, rewards and events (charts drawn on the
server), failing webhook endpoints, batches still generating."""

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from tessera.domain.roles import Permission
from tessera.entrypoints.console.charts import hourly_bars
from tessera.entrypoints.console.web import PREFIX, ConsoleRoute, SignedIn, render
from tessera.services.dashboard import overview

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
NAV = [("", "Dashboard", "read")]


@router.get("")
async def dashboard(request: Request, signed: SignedIn) -> Response:
    seen = await run_in_threadpool(overview, signed.uow(Permission.READ))
    charts = [
        (title, sum(values), hourly_bars(title, values, seen.start))
        for title, values in (
            ("Redemptions per hour", seen.redemptions),
            ("Rewards per hour", seen.rewards),
            ("Events per hour", seen.events),
        )
    ]
    return render(request, "dashboard.html", signed, overview=seen, charts=charts)
