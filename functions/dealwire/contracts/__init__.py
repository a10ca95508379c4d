"""Models of every message that crosses dealwire's edge, in and out."""
