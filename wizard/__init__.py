"""runner-wizard core: answers model, checks, rendering, apply and diagnosis.

Nothing in this package imports a UI library (textual, questionary, rich).
"""

__version__ = "0.3.1"
