"""``python -m runner_wizard``: the same as the ``runner-wizard`` command."""

import sys

from runner_wizard import main

if __name__ == "__main__":
    sys.exit(main())
