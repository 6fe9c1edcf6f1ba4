"""The accounts table: one profile per user (identity itself lives in Cognito)."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from chalicelib.dynamo import TypedMap, table_meta


class Address(TypedMap):
    line1 = UnicodeAttribute()
    line2 = UnicodeAttribute(null=True)
    city = UnicodeAttribute()
    postal_code = UnicodeAttribute()
    country = UnicodeAttribute()


class Profile(Model):
    Meta = table_meta("accounts")
    pk = UnicodeAttribute(hash_key=True)  # "USER#<user_id>"
    sk = UnicodeAttribute(range_key=True)  # "PROFILE"
    user_id = UnicodeAttribute()
    email = UnicodeAttribute()
    name = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    shipping_address = Address(null=True)
