"""What runs beside the deployment but is never shipped (outside CodeUri)."""
