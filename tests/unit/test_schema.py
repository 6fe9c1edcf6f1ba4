import pytest

from chalicelib.errors import InvalidInput
from chalicelib.schema import Arr, Bool, Int, Obj, Str

LINE = Obj({"product_id": Str(min_len=1, max_len=64), "quantity": Int(minimum=1, maximum=100)},
           required=("product_id", "quantity"))
ORDER = Obj({"items": Arr(LINE, min_items=1, max_items=50), "note": Str(max_len=10), "gift": Bool()},
            required=("items",))


def errors_of(value):
    with pytest.raises(InvalidInput) as caught:
        ORDER.validate(value)
    return caught.value.errors


def test_valid_value_is_cleaned_and_returned():
    assert ORDER.validate({"items": [{"product_id": " p1 ", "quantity": 2}], "gift": False}) == {
        "items": [{"product_id": "p1", "quantity": 2}], "gift": False}


def test_every_error_names_its_field_path():
    errors = errors_of({"items": [{"product_id": "p", "quantity": 0}, {"quantity": "2"}], "extra": 1})
    assert {"field": "items[0].quantity", "message": "must be >= 1"} in errors
    assert {"field": "items[1].product_id", "message": "is required"} in errors
    assert {"field": "items[1].quantity", "message": "must be an integer"} in errors
    assert {"field": "extra", "message": "is not a known field"} in errors


@pytest.mark.parametrize("bad", [True, 1.0, 2.5, "3", None, [1], 10**30])
def test_integers_are_strict(bad):
    errors = errors_of({"items": [{"product_id": "p", "quantity": bad}]})
    assert errors[0]["field"] == "items[0].quantity"


def test_body_must_be_an_object():
    assert errors_of([1, 2]) == [{"field": "(body)", "message": "must be an object"}]


def test_length_limits_and_empty_lists():
    assert errors_of({"items": []})[0] == {"field": "items", "message": "must have at least 1 item(s)"}
    assert errors_of({"items": [{"product_id": "x" * 65, "quantity": 1}]})[0]["message"] == \
        "must be at most 64 characters"
    assert errors_of({"items": [{"product_id": "p", "quantity": 1}]} | {"note": "x" * 11})[0]["field"] == "note"


def test_message_names_the_first_problem():
    with pytest.raises(InvalidInput, match=r"items\[0\]\.quantity must be >= 1"):
        ORDER.validate({"items": [{"product_id": "p", "quantity": -1}]})


def test_json_schema_describes_the_same_rules():
    schema = ORDER.json_schema()
    assert schema["required"] == ["items"] and schema["additionalProperties"] is False
    line = schema["properties"]["items"]["items"]
    assert line["properties"]["quantity"] == {"type": "integer", "minimum": 1, "maximum": 100}
    assert schema["properties"]["items"]["maxItems"] == 50


def test_nullable_and_enum():
    field = Obj({"c": Str(enum=("USD", "EUR"), nullable=True)})
    assert field.validate({"c": None}) == {"c": None}
    with pytest.raises(InvalidInput):
        field.validate({"c": "GBP"})
    assert field.json_schema()["properties"]["c"]["type"] == ["string", "null"]
