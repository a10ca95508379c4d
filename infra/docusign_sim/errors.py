"""The simulator's refusals, answered with DocuSign's error body."""

from __future__ import annotations


class SimError(Exception):
    """A refusal answered with DocuSign's error body ``{"errorCode", "message"}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, str]:
        return {"errorCode": self.code, "message": self.message}
