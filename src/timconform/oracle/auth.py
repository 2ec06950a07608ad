"""Authentication: a request whose UserSig or identifier is wrong in one way is refused and imports nothing;
valid UserSigs are served, reused and in every official format."""

from __future__ import annotations

from timconform.oracle.answers import accepted_call, refused
from timconform.oracle.registry import check
from timconform.oracle.tables import not_kept

for _rule_id in ("FI-AUTH-USERSIG-EMPTY", "FI-AUTH-USERSIG-MALFORMED", "FI-AUTH-USERSIG-EXPIRED",
                 "FI-AUTH-USERSIG-WRONG-KEY", "FI-AUTH-USERSIG-IDENTIFIER-MISMATCH",
                 "FI-AUTH-USERSIG-SDKAPPID-MISMATCH", "FI-AUTH-SDKAPPID-UNKNOWN", "FI-AUTH-ADMIN-REQUIRED"):
    check(_rule_id, refused=refused, not_kept=not_kept)
check("FI-AUTH-USERSIG-REUSE", accepted_call=accepted_call)
check("FI-AUTH-USERSIG-FORMATS", accepted_call=accepted_call)
