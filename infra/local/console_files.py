"""The console `make run` serves at /console: three static files, no build step."""

from __future__ import annotations

from pathlib import Path

CONSOLE_PATH = "/console"
CONSOLE_DIRECTORY = Path(__file__).with_name("console")
_FILES = {
    CONSOLE_PATH: ("index.html", "text/html; charset=utf-8"),
    f"{CONSOLE_PATH}/console.css": ("console.css", "text/css; charset=utf-8"),
    f"{CONSOLE_PATH}/console.js": ("console.js", "text/javascript; charset=utf-8"),
}
# The page runs only its own script and style and talks only to the gateway it came from;
# what a thread holds (subjects, names) reaches the DOM as text, never as markup.
CONSOLE_HEADERS: tuple[tuple[str, str], ...] = (
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self';"
        " base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)


def console_files() -> dict[str, tuple[str, bytes]]:
    """Each console path with its content type and bytes."""
    return {
        path: (content_type, (CONSOLE_DIRECTORY / name).read_bytes())
        for path, (name, content_type) in _FILES.items()
    }
