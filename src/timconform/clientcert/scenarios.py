"""The scenarios a client is certified on: the emulator's state, its fault plan, the input, and what is graded.

Each scenario runs the client's adapter once, in its own process, against a fresh emulator. The
input is handed over in the file named by ``TIMCONFORM_SCENARIO_INPUT``: one import
``{"From_Account": ..., "AddFriendItem": [...]}``, except in ``two-imports``, where it is a JSON
array of two such objects (the adapter calls the client's import function once per element, in
order, in the same process: the only way to see whether a client reuses ``random``).
Every input is valid: any invalid request is the client's own doing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from timconform import spec as spec_module

SLOW_SECONDS = 3.5  # above the documented 3 s server timeout (api-facts §1.3), below any sane client timeout
FROM = "alice"
GHOST = "ghost_never_imported"  # a To_Account that does not exist: per-item 30003, not importable


@dataclass(frozen=True)
class Import:
    from_account: str
    items: tuple[dict[str, Any], ...]

    def as_json(self) -> dict[str, Any]:
        return {"From_Account": self.from_account, "AddFriendItem": [dict(i) for i in self.items]}


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    imports: tuple[Import, ...]
    rules: tuple[str, ...]  # scenario-level rules this scenario grades (request and stream rules: every scenario)
    faults: tuple[dict[str, Any], ...] = ()
    recovery: str | None = None  # the recovery rule judged on the first friend_import call's fault
    fault_label: str = ""  # how the evidence names the fault
    as_list: bool = False  # the input file holds a JSON array of imports
    peer: str | None = None  # the same input in the current response shape (CL-TOLERATE-OLD-SHAPE)
    missing: frozenset[str] = field(default_factory=frozenset)  # To_Accounts that are not imported accounts

    def input_json(self) -> Any:
        docs = [i.as_json() for i in self.imports]
        return docs if self.as_list else docs[0]

    def accounts(self) -> list[str]:
        """Accounts the emulator holds before the client runs (senders and importable friends)."""
        out: dict[str, None] = {}
        for imp in self.imports:
            out[imp.from_account] = None
            for item in imp.items:
                if item["To_Account"] not in self.missing:
                    out[item["To_Account"]] = None
        return list(out)

    def wanted(self) -> dict[str, set[str]]:
        """Every To_Account of the input, per From_Account."""
        out: dict[str, set[str]] = {}
        for imp in self.imports:
            out.setdefault(imp.from_account, set()).update(i["To_Account"] for i in imp.items)
        return out

    def importable(self) -> dict[str, set[str]]:
        return {sender: {a for a in accounts if a not in self.missing} for sender, accounts in self.wanted().items()}


def _rich(n: int, start: int = 1) -> tuple[dict[str, Any], ...]:
    """Items using every standard field, with non-ASCII text within the byte limits."""
    out = []
    for k in range(start, start + n):
        item: dict[str, Any] = {"To_Account": f"user{k:04d}", "AddSource": "AddSource_Type_Web"}
        if k % 2:
            item.update(Remark=f"同事{k}", RemarkTime=1420000001, GroupName=["朋友", "Colleagues"],
                        AddWording=f"I'm Test{k}", AddTime=1420000001)
        out.append(item)
    return tuple(out)


def _plain(n: int, start: int = 1) -> tuple[dict[str, Any], ...]:
    return tuple({"To_Account": f"user{k:04d}", "AddSource": "AddSource_Type_Android"} for k in range(start, start + n))


def _with_ghost(items: tuple[dict[str, Any], ...], at: int) -> tuple[dict[str, Any], ...]:
    ghost = {"To_Account": GHOST, "AddSource": "AddSource_Type_Web"}
    return items[:at] + (ghost,) + items[at:]


def _fault_on_first(**fault: Any) -> tuple[dict[str, Any], ...]:
    return ({"operation": "friend_import", "calls": [1], **fault},)


HAPPY = Import(FROM, _rich(8))
PARTIAL = Import(FROM, _with_ghost(_rich(4), 2))
SMALL = Import(FROM, _rich(5))


def all_scenarios(rate_limit_code: int | None = None) -> tuple[Scenario, ...]:
    """Every scenario, in run order. ``rate_limit_code``: the emulator's answer to a call over the rate (the
    catalogue's REST frequency-limit code unless told)."""
    named = spec_module.load().code_named
    rate_limit_code = rate_limit_code or named("ERR_SVR_COMM_REST_FREQ_LIMIT")
    internal, timeout, conflict, expired = (named(n) for n in ("SNS_SERVER_INTERNAL_ERROR", "SNS_NETWORK_TIMEOUT",
                                                                "SNS_WRITE_CONFLICT", "USERSIG_EXPIRED"))
    return (
        Scenario("happy", "8 valid items (non-ASCII remarks and list names); no fault", (HAPPY,),
                 rules=("CL-IMPORT-COMPLETE",)),
        Scenario("batch-2500", "2,500 valid items: more than one request may carry (1000)", (Import(FROM, _plain(2500)),),
                 rules=("CL-IMPORT-COMPLETE",)),
        Scenario("partial-failure", "5 items, one of them an account that does not exist (per-item 30003)",
                 (PARTIAL,), rules=("CL-IMPORT-COMPLETE",), missing=frozenset({GHOST})),
        Scenario("two-imports", "two imports in one process (the input is a JSON array of two)",
                 (Import(FROM, _rich(3)), Import("bob", _rich(3, start=4))), rules=("CL-IMPORT-COMPLETE",),
                 as_list=True),
        Scenario("transient-30006", "the first call is answered ErrorCode 30006, later calls normally", (SMALL,),
                 rules=(), faults=_fault_on_first(action="code", code=internal), recovery="CL-RETRY-TRANSIENT",
                 fault_label=f"ErrorCode {internal}"),
        Scenario("transient-30007", "the first call is answered ErrorCode 30007, later calls normally", (SMALL,),
                 rules=(), faults=_fault_on_first(action="code", code=timeout), recovery="CL-RETRY-TRANSIENT",
                 fault_label=f"ErrorCode {timeout}"),
        Scenario("conflict-30008", "the first call is answered ErrorCode 30008 (write conflict)", (SMALL,),
                 rules=(), faults=_fault_on_first(action="code", code=conflict), recovery="CL-RECOVER-30008",
                 fault_label=f"ErrorCode {conflict}"),
        Scenario("usersig-70001", "the first call is answered ErrorCode 70001 (UserSig expired), in a later second "
                 "than it came (so a UserSig made at once differs); valid UserSigs are accepted again afterwards",
                 (SMALL,), rules=(),
                 faults=_fault_on_first(action="code", code=expired, after_second=True),
                 recovery="CL-RENEW-USERSIG-70001",
                 fault_label=f"ErrorCode {expired}"),
        Scenario("http-502", "the first call is answered HTTP 502 (a gateway in trouble)", (SMALL,), rules=(),
                 faults=_fault_on_first(action="http", status=502), recovery="CL-SURVIVE-502-TIMEOUT",
                 fault_label="HTTP 502"),
        Scenario("slow-answer", f"the first call is answered after {SLOW_SECONDS:g} s (above the 3 s server timeout)",
                 (SMALL,), rules=(), faults=_fault_on_first(action="delay", seconds=SLOW_SECONDS),
                 recovery="CL-SURVIVE-502-TIMEOUT", fault_label=f"an answer delayed {SLOW_SECONDS:g} s"),
        Scenario("rate-limit", f"the first call is answered ErrorCode {rate_limit_code} (call frequency exceeded)",
                 (SMALL,), rules=(), faults=_fault_on_first(action="code", code=rate_limit_code),
                 recovery="CL-RECOVER-RATE-LIMIT", fault_label=f"ErrorCode {rate_limit_code}"),
        Scenario("old-shape", "the happy path answered in the older shape (Fail_Account: [] and Invalid_Account: [])",
                 (HAPPY,), rules=("CL-IMPORT-COMPLETE", "CL-TOLERATE-OLD-SHAPE"),
                 faults=({"operation": "friend_import", "action": "old-shape"},), peer="happy"),
        Scenario("old-shape-invalid", "the partial failure answered in the older shape (the missing account in "
                 "Fail_Account; Invalid_Account, which lists SDKAppID mismatches only, empty)", (PARTIAL,), rules=("CL-IMPORT-COMPLETE", "CL-TOLERATE-OLD-SHAPE"),
                 faults=({"operation": "friend_import", "action": "old-shape"},), peer="partial-failure",
                 missing=frozenset({GHOST})),
    )


def names() -> list[str]:
    return [s.name for s in all_scenarios()]
