"""``GET /healthz``: does the database answer, how fresh is each job, what is pending.

For load balancers and monitoring: 200 when healthy, 503 when the database
does not answer or a job has been failing for longer than
``PAPERWIRE_HEALTH_MAX_FAILING`` seconds.  Never cached.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ...jobs import status

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
async def healthz(request: Request) -> JSONResponse:
    code, body = await run_in_threadpool(
        status.health, request.app.state.settings, request.app.state.db, datetime.now(UTC)
    )
    return JSONResponse(body, status_code=code, headers={"cache-control": "no-store"})
