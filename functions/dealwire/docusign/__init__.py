"""The DocuSign eSignature REST client (httpx + pyjwt); imported only where DocuSign is called."""
