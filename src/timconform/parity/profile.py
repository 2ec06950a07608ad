"""A cassette as a behaviour profile: the outcome each open rule showed, for ``timconform emulator --behaviour``.

Where a rule showed several outcomes, the most frequent is taken and the others are named in a comment; an
outcome the emulator cannot show is left out with a comment, so the file always loads.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from timconform.emulator import behaviour
from timconform.parity import cassette
from timconform.spec import Spec


def outcomes(path: Path) -> dict[str, Counter]:
    """Rule id -> how often each outcome was recorded in the cassette."""
    _, lines = cassette.read(path)
    seen: dict[str, Counter] = {}
    for line in lines:
        for entry in line.get("judged") or ():
            if entry.get("status") == "outcome" and entry.get("outcome"):
                seen.setdefault(entry["rule"], Counter())[entry["outcome"]] += 1
    return seen


def profile_text(spec: Spec, path: Path) -> str:
    header, _ = cassette.read(path)
    chosen, notes = {}, []
    for rule_id, counts in sorted(outcomes(path).items()):
        if rule_id not in spec.rules:
            notes.append(f"{rule_id}: not a rule of this catalogue, left out")
            continue
        outcome, _ = counts.most_common(1)[0]
        try:
            behaviour.load(spec, {rule_id: outcome})
        except behaviour.BehaviourError as exc:
            notes.append(f"{rule_id}: observed {outcome}, left out: {exc}")
            continue
        chosen[rule_id] = outcome
        if len(counts) > 1:
            notes.append(f"{rule_id}: observed {dict(counts)}; the most frequent is kept")
    target, recorded, version = (" ".join(str(header.get(k)).split()) for k in ("target", "recorded_at", "suite_version"))
    lines = [f"# Behaviour profile from the cassette {' '.join(path.name.split())}: what {target} answered where the",
             f"# docs are silent (recorded {recorded}, suite {version}).",
             "# Use it with: timconform emulator --behaviour THIS_FILE"]
    lines += [f"# {' '.join(note.split())}" for note in notes]  # one comment line each, whatever a cassette holds
    body = yaml.safe_dump({"outcomes": chosen}, sort_keys=True, allow_unicode=True) if chosen else "outcomes: {}\n"
    return "\n".join(lines) + "\n" + body
