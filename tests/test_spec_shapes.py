"""openapi.yaml and the JSON Schemas: valid documents, the seed's samples, documented violations."""

import copy
import json

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from tests import seed

REQUEST = "friend_import.request.json"
RESPONSE = "friend_import.response.json"
OK_BASIC = {"ResultItem": [{"To_Account": "id1", "ResultCode": 0, "ResultInfo": ""}],
            "ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "ErrorDisplay": ""}


def errors(spec, schema, doc):
    return list(spec.validator(schema).iter_errors(doc))


def item(n=1, **fields):
    return {"To_Account": f"id{n}", "AddSource": "AddSource_Type_Test", **fields}


def test_openapi_document_is_valid(spec):
    contents, base_uri = read_from_filename(str(spec.openapi_path))
    validate(contents, base_uri=base_uri)


def test_schemathesis_loads_and_generates_friend_import_cases(spec):
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    operation = schemathesis.openapi.from_path(str(spec.openapi_path))["/v4/sns/friend_import"]["POST"]
    cases = []

    @given(operation.as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def collect(case):
        cases.append(case)

    collect()
    assert len(cases) >= 10
    for case in cases:
        assert errors(spec, REQUEST, case.body) == []
        assert set(case.query) == {"sdkappid", "identifier", "usersig", "random", "contenttype"}


def test_every_operation_is_described(spec):
    assert set(spec.operations) == {"friend_import", "account_import", "multiaccount_import", "account_check",
                                    "account_delete", "friend_check", "friend_get_list", "friend_delete"}
    assert {name for name, op in spec.operations.items() if "support" in op.tags} == set(spec.operations) - {"friend_import"}
    assert spec.operations["friend_import"].rate_per_second == spec.limit("rate_default_per_second")
    for name in ("multiaccount_import", "account_check", "account_delete"):
        assert spec.operations[name].rate_per_second == spec.limit("rate_account_admin_per_second")


def test_servers_name_every_region_of_the_seed_plus_tokyo_with_backups(spec):
    regions = {"china", "singapore", "seoul", "tokyo", "frankfurt", "silicon-valley", "jakarta"}
    assert set(spec.servers) == regions | {f"{r}-backup" for r in regions}
    assert spec.servers["singapore"] == "https://adminapisgp.im.qcloud.com"
    assert spec.servers["china-backup"] == "https://adminapi.my-imcloud.com"


def test_openapi_examples_are_the_seed_samples(spec, shared_dir):
    requests, responses = seed.samples(shared_dir)
    post = spec.openapi["paths"]["/v4/sns/friend_import"]["post"]
    request_examples = post["requestBody"]["content"]["application/json"]["examples"]
    response_examples = post["responses"]["200"]["content"]["application/json"]["examples"]
    assert [e["value"] for e in request_examples.values()] == requests
    assert [e["value"] for e in response_examples.values()] == responses


@pytest.mark.parametrize("kind", ["request", "response"])
def test_every_seed_sample_validates(spec, shared_dir, kind):
    requests, responses = seed.samples(shared_dir)
    docs, schema = (requests, REQUEST) if kind == "request" else (responses, RESPONSE)
    assert len(docs) == (3 if kind == "request" else 2)
    for doc in docs:
        assert errors(spec, schema, doc) == []


def test_a_batch_of_1000_items_is_valid_and_1001_is_not(spec):
    limit = spec.limit("batch_items")
    batch = {"From_Account": "a", "AddFriendItem": [item(n) for n in range(limit)]}
    assert errors(spec, REQUEST, batch) == []
    batch["AddFriendItem"].append(item(limit))
    assert [e.validator for e in errors(spec, REQUEST, batch)] == ["maxItems"]


@pytest.mark.parametrize("source", ["Android", "AddSource_Type_", "AddSource_Type_TooLong99", "AddSource_Type_Abcdefghi",
                                    "addsource_type_Android", "AddSource_Type_Andr oid"])
def test_add_source_without_its_form_is_rejected(spec, source):
    doc = {"From_Account": "a", "AddFriendItem": [item(AddSource=source)]}
    assert errors(spec, REQUEST, doc)


def test_add_source_of_eight_letters_is_valid(spec):
    assert errors(spec, REQUEST, {"From_Account": "a", "AddFriendItem": [item(AddSource="AddSource_Type_Abcdefgh")]}) == []


@pytest.mark.parametrize("missing", ["To_Account", "AddSource"])
def test_an_item_without_a_required_field_is_rejected(spec, missing):
    entry = item()
    del entry[missing]
    assert [e.validator for e in errors(spec, REQUEST, {"From_Account": "a", "AddFriendItem": [entry]})] == ["required"]


@pytest.mark.parametrize("field,value", [("GroupName", [""]), ("GroupName", ["g"] * 33), ("GroupName", "Friends"),
                                         ("CustomItem", [{"Tag": "Tag_SNS_Custom_", "Value": "v"}]),
                                         ("CustomItem", [{"Tag": "Tag_SNS_Custom_Abc", "Value": 1.5}]),
                                         ("AddTime", "1420000001"), ("To_Account", 12345)])
def test_ill_formed_item_fields_are_rejected(spec, field, value):
    assert errors(spec, REQUEST, {"From_Account": "a", "AddFriendItem": [item(**{field: value})]})


def test_byte_limited_max_lengths_are_never_tighter_than_the_byte_limits(spec):
    request = json.loads((spec.root / "schemas" / REQUEST).read_text())
    common = json.loads((spec.root / "schemas" / "common.json").read_text())
    fields = request["$defs"]["add_friend_item"]["properties"]
    custom_value = request["$defs"]["custom_item"]["properties"]["Value"]["oneOf"][0]
    pairs = [(fields["Remark"], "remark_bytes"), (fields["AddWording"], "add_wording_bytes"),
             (request["$defs"]["group_name"], "group_name_bytes"), (custom_value, "custom_value_bytes"),
             (common["$defs"]["user_id"], "user_id_bytes")]
    for schema, limit in pairs:
        assert schema["maxLength"] >= spec.limit(limit), limit


def test_byte_limits_are_not_expressed_as_characters(spec):
    # 96 three-byte characters are 288 bytes: the schema accepts them (it counts characters) and
    # the byte rule, enforced in code, must be what rejects them.
    doc = {"From_Account": "a", "AddFriendItem": [item(Remark="好" * 96)]}
    assert errors(spec, REQUEST, doc) == []


def test_an_empty_fail_account_is_rejected(spec):
    doc = dict(OK_BASIC, Fail_Account=[])
    assert [e.validator for e in errors(spec, RESPONSE, doc)] == ["minItems"]


def test_ok_with_a_non_zero_error_code_is_rejected(spec):
    assert errors(spec, RESPONSE, dict(OK_BASIC, ErrorCode=30001))


def test_fail_with_error_code_zero_is_rejected(spec):
    assert errors(spec, RESPONSE, {"ActionStatus": "FAIL", "ErrorCode": 0, "ErrorInfo": "x", "ErrorDisplay": ""})


def test_a_string_result_code_is_rejected(spec):
    doc = copy.deepcopy(OK_BASIC)
    doc["ResultItem"][0]["ResultCode"] = "0"
    assert errors(spec, RESPONSE, doc)


def test_a_successful_item_with_a_result_info_is_rejected(spec):
    doc = copy.deepcopy(OK_BASIC)
    doc["ResultItem"][0]["ResultInfo"] = "ok"
    assert errors(spec, RESPONSE, doc)


def test_ok_without_result_item_or_error_display_is_rejected(spec):
    for missing in ("ResultItem", "ErrorDisplay"):
        doc = dict(OK_BASIC)
        del doc[missing]
        assert errors(spec, RESPONSE, doc), missing


def test_a_fail_envelope_and_unknown_fields_are_accepted(spec):
    fail = {"ActionStatus": "FAIL", "ErrorCode": 30003, "ErrorInfo": "Err_Sns_Invalid_Account", "ErrorDisplay": ""}
    assert errors(spec, RESPONSE, fail) == []
    assert errors(spec, RESPONSE, dict(OK_BASIC, Invalid_Account=[], SomethingNew={"x": 1})) == []


def test_each_support_operation_has_request_and_response_schemas(spec):
    for op in spec.operations.values():
        assert spec.validator(op.request_schema).schema
        assert spec.validator(op.response_schema).schema
    assert errors(spec, "support/account_check.response.json",
                  {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "",
                   "ResultItem": [{"UserID": "u", "ResultCode": 0, "ResultInfo": "", "AccountStatus": "Imported"}]}) == []
    assert errors(spec, "support/account_import.request.json", {"UserID": "u"}) == []
    assert errors(spec, "support/account_import.request.json", {"Identifier": "u"}) == []
    assert errors(spec, "support/account_import.request.json", {"Nick": "n"})
