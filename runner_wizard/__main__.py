"""``python -m runner_wizard``: the same as the ``runner-wizard`` command."""

from runner_wizard import run

if __name__ == "__main__":
    run()
