"""What the CRM's HTTP API does: the tracker, documents, voids and threads, as one caller may have them."""
