"""The rules about one AddFriendItem: its fields, their limits and the accounts it names.

Each is judged on the answer to an item built to break it ("refused"), on an item within it ("imported"),
and on the friend table afterwards: a refused item leaves nothing ("not_kept"), an accepted one is there
("kept") with the values it was imported with ("reads_back").
"""

from __future__ import annotations

from typing import Any

from timconform.oracle.answers import all_imported, imported, refused, refused_call
from timconform.oracle.registry import PASS, Observation, check, failure
from timconform.oracle.support import multiaccount_imported
from timconform.oracle.tables import any_kept, kept, not_kept, reads_back
from timconform.spec import Rule, Spec


def tag_dropped(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """An item accepted with a malformed custom tag (``facts["tag"]``) was stored without it."""
    read = (observation["read"] or {}).get(observation["tag"])
    if read is not None:
        raise failure(rule, observation, f"Expected the malformed tag of {observation.note} not to be stored. "
                                         f"Received {read!r}.")
    return PASS


# not_kept: a valid item a target refused is not stored either (the refusal, not the storage, is the fault)
check("FI-VALID-ITEM-IMPORTED", imported=imported, all_imported=all_imported, kept=kept, any_kept=any_kept,
      not_kept=not_kept)
check("FI-REQUIRED-FIELDS", refused=refused, not_kept=not_kept)
check("FI-FIELD-TYPES", refused=refused, not_kept=not_kept)
check("FI-ACCOUNT-TYPE-60015", refused=refused, not_kept=not_kept)
check("FI-LIMIT-BATCH-1000", all_imported=all_imported, kept=kept, refused=refused, not_kept=not_kept)
check("FI-LIMIT-USERID-BYTES", refused=refused, imported=imported, kept=kept, not_kept=not_kept,
      refused_call=refused_call, multiaccount=multiaccount_imported)
for _rule_id in ("FI-LIMIT-REMARK-BYTES", "FI-LIMIT-GROUPNAME-BYTES", "FI-LIMIT-ADDWORDING-BYTES",
                 "FI-LIMIT-CUSTOM-VALUE-BYTES", "FI-LIMIT-GROUPNAME-NONEMPTY", "FI-LIMIT-ADDSOURCE-FORM"):
    check(_rule_id, refused=refused, imported=imported, kept=kept, not_kept=not_kept, reads_back=reads_back)
check("FI-LIMIT-CUSTOM-TAG-FORM", refused=refused, imported=imported, kept=kept, not_kept=not_kept,
      reads_back=reads_back, tag_dropped=tag_dropped)
check("FI-TIME-FIELD-UINT32", imported=imported, kept=kept, not_kept=not_kept)
check("FI-ACCOUNT-FROM-EXISTS", refused=refused, not_kept=not_kept)
check("FI-ACCOUNT-TO-EXISTS", refused=refused, not_kept=not_kept)
check("FI-ACCOUNT-NAME-EXACT", refused=refused, not_kept=not_kept)
