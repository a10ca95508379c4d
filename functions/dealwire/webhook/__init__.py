"""Receiving DocuSign Connect: signature, parse, archive, record."""
