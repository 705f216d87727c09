"""triagebot: turns automated error-report e-mails into one tracker defect per stack signature."""

__version__ = "0.1.0"
