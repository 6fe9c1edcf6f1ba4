"""`python -m devstack` (what `make dev` runs): the whole Storefront stack on this machine."""

import sys

from devstack.stack import DevConfig, run

if __name__ == "__main__":
    sys.exit(run(DevConfig.from_env()))
