"""The copy of openapi.yaml that the generated scenario draws friend_import bodies from.

The scenario used to replace or drop some generated values before it sent a body: every account name
(each example gets fresh accounts), every custom tag (only tags configured for the target can be stored,
so it sends those), every CustomItem entry past one per tag, and items past the batch size it sends.
Drawing a value costs Hypothesis the same whether it is sent or thrown away, and these were expensive.
With the scenario's settings and two configured tags, 6 seeds of 100 examples drew 43 bodies/s from the
published schema, 72/s with only the custom tags narrowed (the ``Tag_SNS_Custom_`` regex), 71/s with
only the CustomItem size narrowed, 45/s with only the account names, 43/s with only the batch size, and
93/s with all of it (``python bench/suite_throughput.py --drawing-ablation``). This copy narrows exactly
those fields, so nothing is drawn only to be thrown away:

- From_Account and To_Account are the empty string (the scenario writes fresh names over them);
- a custom tag is one of the target's configured tags (``enum``), and a CustomItem holds at most as many
  entries as there are such tags (the scenario keeps each tag once); with none configured, CustomItem is
  left out of the item schema, as the scenario left it out of the body;
- AddFriendItem has at most ``max_items`` items.

Every other field keeps the published schema. Invalid forms of these fields are still sent: the scenario
inserts them itself, one documented limit each. The copy lives in a temporary directory (schemathesis
resolves the relative ``$ref`` between the files from disk) that is removed when the process exits.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path

REQUEST_SCHEMA = "friend_import.request.json"


def narrow(request_schema: dict, custom_tags: tuple[str, ...], max_items: int) -> dict:
    """The friend_import request schema with the scenario's overwritten fields narrowed (a new dict)."""
    schema = json.loads(json.dumps(request_schema))
    item = schema["$defs"]["add_friend_item"]
    schema["properties"]["From_Account"] = {"const": ""}
    item["properties"]["To_Account"] = {"const": ""}
    batch = schema["properties"]["AddFriendItem"]
    batch["maxItems"] = min(batch.get("maxItems", max_items), max_items)
    if custom_tags:
        schema["$defs"]["custom_tag"] = {"enum": list(custom_tags)}
        custom = item["properties"]["CustomItem"]
        custom["maxItems"] = min(custom.get("maxItems", len(custom_tags)), len(custom_tags))
    else:
        del item["properties"]["CustomItem"]
    return schema


@functools.lru_cache(maxsize=8)
def openapi_copy(openapi_path: str, custom_tags: tuple[str, ...], max_items: int) -> str:
    """The path of openapi.yaml in a temporary copy of the tree whose request schema is narrowed."""
    source = Path(openapi_path)
    root = Path(tempfile.mkdtemp(prefix="timconform-drawing-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    shutil.copy(source, root / source.name)
    shutil.copytree(source.parent / "schemas", root / "schemas")
    request = root / "schemas" / REQUEST_SCHEMA
    narrowed = narrow(json.loads(request.read_text(encoding="utf-8")), custom_tags, max_items)
    request.write_text(json.dumps(narrowed, ensure_ascii=False, indent=1), encoding="utf-8")
    return str(root / source.name)
