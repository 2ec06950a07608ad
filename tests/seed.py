"""Reads the JSON samples out of the official friend_import page (the seed) for tests."""

import json
from pathlib import Path

SEED_NAME = "seeds/000_11dea572c7dd762f.txt"


def json_blocks(text: str) -> list:
    """Every top-level JSON object on the page, in page order (the samples start with a lone '{')."""
    blocks, depth, current = [], 0, []
    for line in text.splitlines():
        stripped = line.strip()
        if depth == 0 and stripped != "{":
            continue
        current.append(line)
        depth += stripped.count("{") + stripped.count("[") - stripped.count("}") - stripped.count("]")
        if depth == 0:
            blocks.append(json.loads("\n".join(current)))
            current = []
    return blocks


def samples(shared_dir: Path) -> tuple[list, list]:
    """(request samples, response samples) as the page shows them: three requests, then two responses."""
    blocks = json_blocks((shared_dir / SEED_NAME).read_text(encoding="utf-8"))
    requests = [b for b in blocks if "AddFriendItem" in b]
    responses = [b for b in blocks if "ActionStatus" in b]
    return requests, responses
