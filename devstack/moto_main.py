"""`python -m devstack.moto_main -H HOST -p PORT`: moto server with the harness's fixes applied."""

from moto.server import main

from devstack import moto_fixes

if __name__ == "__main__":
    moto_fixes.apply_all()
    main()
