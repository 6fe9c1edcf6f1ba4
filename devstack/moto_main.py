"""`python -m devstack.moto_main -H HOST -p PORT`: moto server with the harness's fixes applied."""

from moto.server import main

from devstack.moto_fixes import honour_secure_transport_condition, serialize_dynamodb

if __name__ == "__main__":
    serialize_dynamodb()
    honour_secure_transport_condition()
    main()
