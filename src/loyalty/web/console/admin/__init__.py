"""Administration pages (`/console/admin/…`): the chain's stores and merchants, staff accounts, POS
keys, the programme's rules and tier ladder, and the audit log (the jobs page is `console.jobs`).

Each page asks the API's permission for what it shows (`stores:write`, `staff:manage`,
`apikeys:manage`, `programme:write`, `audit:read`) and calls the same services as the API, with the
signed-in user as the audited actor; a store manager manages the POS keys of their own stores only.
"""

from __future__ import annotations

from fastapi import APIRouter

from loyalty.web.console.admin import audit, index, keys, programme, staff, stores
from loyalty.web.pages import ConsoleRoute

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
for _part in (index, stores, staff, keys, programme, audit):
    router.include_router(_part.router)
