"""Data access: one module per store; the only code that imports boto3."""
