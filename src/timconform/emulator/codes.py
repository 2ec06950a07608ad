"""The codes the emulator answers with where no rule's codes pick one, by their names in schemas/error-codes.json.

Read once through timconform.spec, like every other code: a code corrected in the catalogue is corrected in the
emulator too (issue 12).
"""

from __future__ import annotations

from timconform import spec as spec_module

_SPEC = spec_module.load()
OK = 0
PARAM_ERROR = _SPEC.code_named("SNS_INVALID_PARAMETER")  # 30001, per item and per request
ACCOUNT_MISSING = _SPEC.code_named("SNS_ACCOUNT_NOT_EXIST")
SDKAPPID_MISMATCH = _SPEC.code_named("SNS_SDKAPPID_MISMATCH")  # per item: the older shape's Invalid_Account
FRIEND_LIMIT = _SPEC.code_named("SNS_MY_FRIEND_NUM_EXCEED")
LIST_LIMIT = _SPEC.code_named("SNS_FRIEND_LIST_NUM_EXCEED")
NOT_A_FRIEND_DELETE = _SPEC.code_named("SNS_DELETE_NOT_FRIEND")
ACCOUNT_NOT_IMPORTED = _SPEC.code_named("ACCOUNT_NOT_EXIST")
ACCOUNT_CAP = _SPEC.code_named("ACCOUNT_NUM_EXCEED")
NOT_FREE_TRIAL = _SPEC.code_named("ACCOUNT_DELETE_FORBIDDEN")
WRITE_CONFLICT = _SPEC.code_named("SNS_WRITE_CONFLICT")  # a shared store's write that kept meeting other writers
# Parameter errors of the companion operations: 30001 for SNS ones (api-facts §4.4 lists it for each),
# 70402 "invalid parameter (required fields / protocol)" for the account ones (api-facts §2.2), and
# 60015 wherever an account is not a string (api-facts §2.1).
SNS_PARAM_ERROR = PARAM_ERROR
ACCOUNT_PARAM_ERROR = _SPEC.code_named("ACCOUNT_INVALID_PARAMETER")
ID_NOT_STRING = _SPEC.code_named("ERR_SVR_COMM_INVALID_ID_FORMAT")
# SUPPORT-BATCH-LIMITS: a batch over its documented size is refused as a whole, with 70206 "invalid batch count
# in request" for the account operations and 30001 for the SNS ones.
ACCOUNT_BATCH_COUNT = _SPEC.code_named("ACCOUNT_INVALID_BATCH_COUNT")
# FI-QUERY-MISSING lists one plausible code per parameter: 60004 for the identifier, 60002 otherwise.
BAD_URL = _SPEC.code_named("ERR_SVR_COMM_INVALID_HTTP_URL")
BAD_ACCOUNT = _SPEC.code_named("ERR_SVR_COMM_INVALID_ACCOUNT")
