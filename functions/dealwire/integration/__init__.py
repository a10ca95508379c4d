"""Connecting a tenant to DocuSign: consent, the Connect configuration and keys, the health check."""
