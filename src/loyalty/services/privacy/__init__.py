"""A member's rights over their personal data: a copy of everything kept about them, and erasure.

* `export_member_data` (`privacy.export`): the member's data package — profile, consents, points
  balance and statement, purchases with their lines and returns, claimed receipts, tier and tier
  history, analytics scores and the duplicate records merged into them — as one JSON document, the
  same from the API, the CLI and the console. Each export is audited (who took whose data, and how
  much), without copying the data into the audit log.
* `erase_member` (`privacy.erasure`): the person's personal data is erased for good, while the
  ledger and the purchases, which the books need, stay on an anonymised record marked `erased_at`.
  Irreversible, so it needs the member's card number typed as confirmation, and audited without
  the erased data.

Both are for the `members:privacy` permission (administrators); the entry points check it.
"""

from __future__ import annotations

from loyalty.services.privacy.erasure import ERASED_PHONE_PREFIX, ErasureResult, erase_member
from loyalty.services.privacy.export import FORMAT, DataPackage, export_member_data

__all__ = [
    "ERASED_PHONE_PREFIX",
    "FORMAT",
    "DataPackage",
    "ErasureResult",
    "erase_member",
    "export_member_data",
]
