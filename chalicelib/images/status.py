"""The latest picture upload of each product and its outcome: GET /products/{product_id}/image.

Item (catalog table, generic keys): pk "PRODUCT#<product_id>", sk "IMAGE_STATUS", holding the key of
the latest upload requested (POST /products/{id}/image), its `status` (PENDING until the uploaded
object is handled, then ACCEPTED or REJECTED), the rejection's `reason` and `updated_at`. Requesting
an upload overwrites it; handling an object updates it only while that object is still the latest
(a condition on the key), so a slow older upload never hides the outcome of a newer one. It is in no
index and in the product's own partition, next to the product and STOCK items the reads already name.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from chalicelib.catalog.models import product_pk
from chalicelib.clock import now_iso
from chalicelib.dynamo import condition_failed, table_meta
from chalicelib.errors import NotFound

PENDING = "PENDING"
STATUS_SK = "IMAGE_STATUS"


class ImageStatus(Model):
    Meta = table_meta("catalog")
    pk = UnicodeAttribute(hash_key=True)  # "PRODUCT#<product_id>"
    sk = UnicodeAttribute(range_key=True)  # "IMAGE_STATUS"
    key = UnicodeAttribute()  # the latest upload's object key
    status = UnicodeAttribute()  # PENDING, ACCEPTED or REJECTED
    reason = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute()


def requested(product_id: str, key: str) -> None:
    """A new upload of `key` was requested: it is now the product's latest, PENDING (one PutItem)."""
    ImageStatus(pk=product_pk(product_id), sk=STATUS_SK, key=key, status=PENDING, reason=None,
                updated_at=now_iso()).save()


def handled(product_id: str, key: str, status: str, reason: str | None = None) -> None:
    """The object `key` was ACCEPTED or REJECTED: recorded if it is still the product's latest upload."""
    item = ImageStatus(pk=product_pk(product_id), sk=STATUS_SK)
    actions: list[Action] = [ImageStatus.status.set(status), ImageStatus.updated_at.set(now_iso()),
               ImageStatus.reason.set(reason) if reason else ImageStatus.reason.remove()]
    try:
        item.update(actions=actions, condition=ImageStatus.key == key)
    except UpdateError as exc:
        if not condition_failed(exc):  # a newer upload was requested since, or none through the API
            raise


def latest(product_id: str) -> dict[str, Any]:
    """The latest upload's outcome `{"status", "reason", "key", "updated_at"}`; NotFound before any request."""
    try:
        item = ImageStatus.get(product_pk(product_id), STATUS_SK, consistent_read=True)
    except ImageStatus.DoesNotExist:
        raise NotFound("No picture upload has been requested for this product") from None
    return {"status": item.status, "reason": item.reason, "key": item.key, "updated_at": item.updated_at}
