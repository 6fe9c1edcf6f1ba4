"""Image uploads in the catalog table: what became of every object uploaded under images/.

Item (generic keys, see infra/template.yaml and catalog/models.py for the table's other items):
- image upload pk "IMAGE#<image_id>", sk "IMAGE". `image_id` is derived from the object (key and
               ETag). ACCEPTED ones name the stored image and thumbnail; REJECTED ones the reason.
               gsi1 (gsi1pk "IMAGE_UPLOADS#<status>", gsi1sk "<created_at>#<image_id>"): an admin
               lists the rejections, newest first, with one Query. Kept 90 days (TTL).
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.dynamo import table_meta

ACCEPTED = "ACCEPTED"
REJECTED = "REJECTED"


class ImageUpload(Model):
    Meta = table_meta("catalog")
    pk = UnicodeAttribute(hash_key=True)  # "IMAGE#<image_id>"
    sk = UnicodeAttribute(range_key=True)  # "IMAGE"
    image_id = UnicodeAttribute()
    key = UnicodeAttribute()  # the uploaded object (deleted once handled)
    product_id = UnicodeAttribute(null=True)  # None when the key names no product
    status = UnicodeAttribute()  # ACCEPTED or REJECTED
    reason = UnicodeAttribute(null=True)  # why it was rejected
    size = NumberAttribute()
    content_type = UnicodeAttribute(null=True)  # the real type, by magic bytes
    image_url = UnicodeAttribute(null=True)
    thumbnail_url = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    gsi1pk = UnicodeAttribute()  # "IMAGE_UPLOADS#<status>"
    gsi1sk = UnicodeAttribute()  # "<created_at>#<image_id>"
    expires_at = TTLAttribute()
