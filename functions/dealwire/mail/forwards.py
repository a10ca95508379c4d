"""Finds the header block of the outermost forwarded message in a plain-text mail body.

Every step is table-driven (separator titles and header labels per client and language)
and linear in the input: lines are split once, separators are recognised by dictionary
lookups on short lines, and a candidate block reads a bounded number of bounded lines.
The one regular expression has no nested quantifier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The caller passes at most this much; the scan holds to it on its own as well.
MAX_SCAN_BYTES = 256 * 1024
MAX_VALUE_CHARS = 4096

# Separators and intros are short; a longer line is body text and costs no lookup.
_MAX_SEPARATOR_CHARS = 160
# The longest label in the tables has 16 characters ("Vedhæftede filer"); with bold markers
# and spacing around it, a colon further in belongs to prose.
_MAX_LABEL_CHARS = 32
# A header block is a handful of lines, wrapped To lists add some; past this it is a body.
_MAX_BLOCK_LINES = 40
# Blank lines a client may leave between its separator and the first header line.
_MAX_GAP_LINES = 2
# Lines of a candidate block are read at most this far, so that a body of separators next
# to very long lines costs a bounded amount per line; values are capped below this anyway.
_MAX_LINE_CHARS = 4 * MAX_VALUE_CHARS
# Gmail frames its title with ten dashes (nine after it), Thunderbird with eight or fewer.
_GMAIL_MIN_DASHES = 9
# Outlook on the web and Outlook's plain-text editor draw a rule of 32 underscores.
_MIN_UNDERSCORES = 10
_RULE_CHARS = frozenset("-_=*~")

_ADDRESS_FIELDS = frozenset({"from", "to", "cc"})
_FIELD_OF = {"sent": "date"}

# Titles between dashes. Gmail and Thunderbird write the same words, translated the same
# way; the number of dashes tells the two apart.
_FORWARD_TITLES: dict[str, tuple[str, ...]] = {
    "en": ("Forwarded message",),
    "de": ("Weitergeleitete Nachricht",),
    "fr": ("Message transféré",),
    "es": ("Mensaje reenviado",),
    "it": ("Messaggio inoltrato",),
    "nl": ("Doorgestuurd bericht",),
    "pt": ("Mensagem encaminhada", "Mensagem reencaminhada"),
    "sv": ("Vidarebefordrat meddelande",),
    "da": ("Videresendt meddelelse", "Videresendt besked"),
    "no": ("Videresendt melding",),
    "fi": ("Välitetty viesti", "Välitetty viesti / Fwd.Msg"),
    "pl": ("Wiadomość przekazana dalej", "Wiadomość przesłana dalej", "Treść przekazanej wiadomości"),
    "cs": ("Přeposlaná zpráva",),
}

# Outlook's "-----Original Message-----", translated.
_ORIGINAL_TITLES: dict[str, tuple[str, ...]] = {
    "en": ("Original Message",),
    "de": ("Ursprüngliche Nachricht",),
    "fr": ("Message d'origine",),
    "es": ("Mensaje original",),
    "it": ("Messaggio originale",),
    "nl": ("Oorspronkelijk bericht",),
    "pt": ("Mensagem original",),
    "sv": ("Ursprungligt meddelande", "Originalmeddelande"),
    "da": ("Oprindelig meddelelse",),
    "no": ("Opprinnelig melding",),
    "fi": ("Alkuperäinen viesti",),
    "pl": ("Wiadomość oryginalna", "Oryginalna wiadomość"),
    "cs": ("Původní zpráva",),
}

# Apple Mail's intro line, written with a trailing colon (" :" in French).
_APPLE_INTROS: dict[str, tuple[str, ...]] = {
    "en": ("Begin forwarded message",),
    "de": ("Anfang der weitergeleiteten Nachricht",),
    "fr": ("Début du message réexpédié",),
    "es": ("Inicio del mensaje reenviado",),
    "it": ("Inizio messaggio inoltrato",),
    "nl": ("Begin doorgestuurd bericht",),
    "pt": ("Início da mensagem reencaminhada", "Início da mensagem encaminhada"),
    "sv": ("Vidarebefordrat brev", "Vidarebefordrat mejl"),
    "da": ("Videresendt besked", "Start på videresendt besked"),
    "no": ("Videresendt melding",),
    "fi": ("Välitetty viesti alkaa",),
    "pl": ("Początek przekazywanej wiadomości",),
    "cs": ("Začátek přeposílané zprávy",),
}

# Header labels per language, as the clients above write them. "sent" is a date in Outlook's
# words, which no other client uses: it names the client of a block that has no separator.
# The key None marks labels that belong to a block but are not kept (Reply-To, Bcc): they
# must neither end the block nor be folded into the value above them. The order of the
# languages breaks ties in the guess.
_LABELS: dict[str, dict[str | None, tuple[str, ...]]] = {
    "en": {
        "from": ("From",),
        "to": ("To",),
        "cc": ("Cc",),
        "date": ("Date",),
        "sent": ("Sent",),
        "subject": ("Subject",),
        None: ("Bcc", "Reply-To", "Importance", "Organization", "Newsgroups", "Attachments"),
    },
    "de": {
        "from": ("Von",),
        "to": ("An",),
        "cc": ("Cc", "Kopie", "Kopie (CC)"),
        "date": ("Datum",),
        "sent": ("Gesendet",),
        "subject": ("Betreff",),
        None: ("Bcc", "Antwort an", "Wichtigkeit", "Organisation", "Anlagen"),
    },
    # "De" is also Spanish and Portuguese, which come first: a French client writes "De :".
    "es": {
        "from": ("De",),
        "to": ("Para",),
        "cc": ("Cc",),
        "date": ("Fecha",),
        "sent": ("Enviado", "Enviado el"),
        "subject": ("Asunto",),
        None: ("Cco", "Responder a", "Importancia", "Datos adjuntos"),
    },
    "fr": {
        "from": ("De",),
        "to": ("À", "Pour"),
        "cc": ("Cc", "Copie à", "Copie"),
        "date": ("Date",),
        "sent": ("Envoyé",),
        "subject": ("Objet", "Sujet"),
        None: ("Cci", "Répondre à", "Importance", "Pièces jointes"),
    },
    "it": {
        "from": ("Da", "Mittente"),
        "to": ("A", "Destinatario"),
        "cc": ("Cc",),
        "date": ("Data",),
        "sent": ("Inviato",),
        "subject": ("Oggetto",),
        None: ("Ccn", "Rispondi a", "Priorità", "Allegati"),
    },
    "nl": {
        "from": ("Van",),
        "to": ("Aan",),
        "cc": ("Cc", "Kopie"),
        "date": ("Datum",),
        "sent": ("Verzonden",),
        "subject": ("Onderwerp",),
        None: ("Bcc", "Antwoord aan", "Urgentie", "Bijlagen"),
    },
    "pt": {
        "from": ("De",),
        "to": ("Para",),
        "cc": ("Cc",),
        "date": ("Data",),
        "sent": ("Enviada", "Enviado"),
        "subject": ("Assunto",),
        None: ("Cco", "Responder a", "Anexos"),
    },
    "sv": {
        "from": ("Från",),
        "to": ("Till",),
        "cc": ("Kopia",),
        "date": ("Datum",),
        "sent": ("Skickat",),
        "subject": ("Ämne",),
        None: ("Hemlig kopia", "Svara till", "Bilagor"),
    },
    "da": {
        "from": ("Fra",),
        "to": ("Til",),
        "cc": ("Cc",),
        "date": ("Dato",),
        "sent": ("Sendt",),
        "subject": ("Emne",),
        None: ("Bcc", "Svar til", "Vedhæftede filer"),
    },
    "no": {
        "from": ("Fra",),
        "to": ("Til",),
        "cc": ("Kopi",),
        "date": ("Dato",),
        "sent": ("Sendt",),
        "subject": ("Emne",),
        None: ("Blindkopi", "Svar til", "Vedlegg"),
    },
    "fi": {
        "from": ("Lähettäjä",),
        "to": ("Vastaanottaja",),
        "cc": ("Kopio",),
        "date": ("Päivämäärä", "Päiväys"),
        "sent": ("Lähetetty",),
        "subject": ("Aihe",),
        None: ("Piilokopio", "Vastausosoite", "Liitteet"),
    },
    "pl": {
        "from": ("Od", "Nadawca"),
        "to": ("Do", "Adresat"),
        "cc": ("DW", "Kopia"),
        "date": ("Data",),
        "sent": ("Wysłane", "Wysłano"),
        "subject": ("Temat",),
        None: ("UDW", "Odpowiedź do", "Załączniki"),
    },
    "cs": {
        "from": ("Od",),
        "to": ("Komu",),
        "cc": ("Kopie",),
        "date": ("Datum",),
        "sent": ("Odesláno",),
        "subject": ("Předmět",),
        None: ("Skrytá kopie", "Odpovědět", "Přílohy"),
    },
}
_LANGUAGES = tuple(_LABELS)

# Addresses as Outlook writes them: "Name [mailto:a@b]", or "a@b<mailto:a@b>" where HTML
# links were turned into text. The quantifier is bounded and not nested.
_MAILTO = re.compile(r"([\[<])mailto:([^\s\[\]<>]{1,320})[\]>]", re.IGNORECASE)

# Control characters go; those that separate words become spaces first, so words stay apart.
_CONTROLS: dict[int, str | None] = {
    **dict.fromkeys([*range(0x00, 0x20), *range(0x7F, 0xA0), 0xFEFF]),
    **dict.fromkeys([0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029], " "),
    # Lone surrogates (undecodable bytes carried through) cannot be encoded again.
    **dict.fromkeys(range(0xD800, 0xE000)),
}


@dataclass(frozen=True, slots=True)
class ForwardedHeaders:
    client: str  # "gmail" | "outlook" | "apple" | "thunderbird" | "generic"
    language: str  # best guess, from the separator and the labels
    from_: str | None
    to: str | None
    cc: str | None
    date: str | None  # as written: clients localise dates, so no parse is attempted here
    subject: str | None


@dataclass(frozen=True, slots=True)
class _Separator:
    client: str
    language: str | None  # None: only the labels tell
    # A rule line or nothing at all is weak evidence: ask for From, Date and Subject.
    strict: bool = False


@dataclass(slots=True)
class _Entry:
    name: str | None  # the field, None for a label that is not kept
    value: str
    more: list[str] = field(default_factory=list)


def _key(text: str) -> str:
    """Case, apostrophes and spacing as the tables are looked up."""
    return " ".join(text.replace("\u2019", "'").casefold().split())


def _index_titles(titles: dict[str, tuple[str, ...]], family: str) -> dict[str, tuple[str, str]]:
    return {_key(title): (family, language) for language, names in titles.items() for title in names}


def _index_labels() -> dict[str, tuple[str | None, frozenset[str]]]:
    index: dict[str, tuple[str | None, frozenset[str]]] = {}
    for language, fields in _LABELS.items():
        for name, labels in fields.items():
            for label in labels:
                key = _key(label)
                known, languages = index.get(key, (name, frozenset[str]()))
                if known != name:
                    msg = f"label {label!r} means {known} and {name}"
                    raise ValueError(msg)
                index[key] = (name, languages | {language})
    return index


_DASHED = _index_titles(_FORWARD_TITLES, "forward") | _index_titles(_ORIGINAL_TITLES, "original")
_INTROS = {_key(title): language for language, names in _APPLE_INTROS.items() for title in names}
_LABEL_INDEX = _index_labels()


def find_forward(text: str) -> ForwardedHeaders | None:
    """The header block of the first (outermost) forwarded message in a plain-text body, if any."""
    lines = _head(text).splitlines()
    after_gap = True  # the start of the body counts as a gap
    for index, line in enumerate(lines):
        separator = _separator(line)
        blank = separator is None and not _unquote(line)[1].strip()
        if separator is None and after_gap and not blank:
            # Outlook's HTML editor and Outlook for Mac draw the rule above the block as a
            # border, which plain text loses: a gap is all that is left of it.
            separator = _Separator("generic", None, strict=True)
            start = index
        else:
            start = index + 1
        after_gap = blank
        if separator is not None:
            found = _read_block(lines, start, separator)
            if found is not None:
                return found
    return None


def _head(text: str) -> str:
    """The first MAX_SCAN_BYTES of the body as UTF-8, cut at a character boundary."""
    head = text[:MAX_SCAN_BYTES]
    encoded = head.encode("utf-8", "surrogatepass")
    if len(encoded) <= MAX_SCAN_BYTES:
        return head
    return encoded[:MAX_SCAN_BYTES].decode("utf-8", "ignore")


def _unquote(line: str) -> tuple[int, str]:
    """Quote depth and the line without its "> " prefix (str methods: no per-character loop)."""
    rest = line.lstrip("> \t")
    return line[: len(line) - len(rest)].count(">"), rest


def _separator(line: str) -> _Separator | None:
    # Quote markers and indentation can at most double a separator's length.
    if len(line) > 2 * _MAX_SEPARATOR_CHARS:
        return None
    text = _unquote(line)[1].strip()
    if not text or len(text) > _MAX_SEPARATOR_CHARS:
        return None
    if len(text) >= _MIN_UNDERSCORES and not text.strip("_"):
        return _Separator("outlook", None)
    found = _titled(text)
    if found is not None:
        return found
    if len(text) >= 3 and _RULE_CHARS.issuperset(text[:3]) and _RULE_CHARS.issuperset(text[-3:]):
        # "----- Forwarded by ... -----", "=====": some client we do not know drew a rule.
        return _Separator("generic", None, strict=True)
    return None


def _titled(text: str) -> _Separator | None:
    """A title between dashes (Gmail, Thunderbird, Outlook) or Apple Mail's intro line."""
    left = len(text) - len(text.lstrip("-"))
    right = len(text) - len(text.rstrip("-"))
    hit = _DASHED.get(_key(text.strip("-"))) if left >= 2 and right >= 2 else None
    if hit is not None:
        family, language = hit
        if family == "original":
            return _Separator("outlook", language)
        return _Separator("gmail" if left >= _GMAIL_MIN_DASHES else "thunderbird", language)
    intro = _INTROS.get(_key(text.removesuffix(":")))
    return None if intro is None else _Separator("apple", intro)


def _label(body: str) -> tuple[str | None, frozenset[str], str, bool] | None:
    """Field, languages, value and French spacing of a "Label: value" line, if it is one."""
    colon = body.find(":", 0, _MAX_LABEL_CHARS)
    if colon <= 0:
        return None
    raw = body[:colon]
    # Outlook on the web's HTML, turned into text, writes "*From:* value".
    hit = _LABEL_INDEX.get(_key(raw.strip().strip("*")))
    if hit is None:
        return None
    name, languages = hit
    value = body[colon + 1 :].lstrip("*").strip()
    # Only French sets a space before the colon ("De :", "Objet :").
    return name, languages, value, raw != raw.rstrip()


def _read_block(lines: list[str], start: int, separator: _Separator) -> ForwardedHeaders | None:
    index = start
    while index < len(lines) and not _unquote(lines[index][:_MAX_LINE_CHARS])[1].strip():
        index += 1
        if index - start > _MAX_GAP_LINES:
            return None
    evidence: list[tuple[frozenset[str], int]] = []
    if separator.language is not None:
        # A separator is written in the user's language on purpose: it counts double.
        evidence.append((frozenset({separator.language}), 2))
    entries = _entries(lines[index : index + _MAX_BLOCK_LINES], evidence)
    values = _values(entries)
    if "from" not in values:
        return None
    wanted = ("date" in values) + ("subject" in values)
    if wanted < (2 if separator.strict else 1):
        return None
    client = separator.client
    if client == "generic" and any(entry.name == "sent" for entry in entries):
        client = "outlook"
    return ForwardedHeaders(
        client=client,
        language=_guess_language(evidence),
        from_=values.get("from"),
        to=values.get("to"),
        cc=values.get("cc"),
        date=values.get("date"),
        subject=values.get("subject"),
    )


def _entries(lines: list[str], evidence: list[tuple[frozenset[str], int]]) -> list[_Entry]:
    """The labelled lines of a block with their continuations; adds the labels' languages to evidence."""
    entries: list[_Entry] = []
    seen: set[str] = set()
    depth: int | None = None
    for line in lines:
        level, body = _unquote(line[:_MAX_LINE_CHARS])
        body = body.strip()
        depth = level if depth is None else depth
        if level != depth or not body:
            break
        label = _label(body)
        if label is None:
            if not entries:
                return []
            entries[-1].more.append(body)
            continue
        name, languages, value, french = label
        field = _FIELD_OF.get(name, name) if name is not None else None
        if field in seen:
            # A second From: is the next message, not more of this one.
            break
        if field is not None:
            seen.add(field)
        entries.append(_Entry(name, value))
        evidence.append((languages, 1))
        if french:
            evidence.append((frozenset({"fr"}), 1))
    return entries


def _values(entries: list[_Entry]) -> dict[str, str]:
    values: dict[str, str] = {}
    last = len(entries) - 1
    for position, entry in enumerate(entries):
        if entry.name is None:
            continue
        parts = [entry.value]
        size = len(entry.value)
        for more in entry.more:
            # Outlook wraps long address lists. After the last label, though, a line may
            # just as well be the body (Outlook for Mac leaves no blank line): only lines
            # with an address are taken there.
            if size > _MAX_LINE_CHARS or (
                position == last and (entry.name not in _ADDRESS_FIELDS or "@" not in more)
            ):
                break
            parts.append(more)
            size += len(more) + 1
        value = _clean(" ".join(parts))
        if value:
            values[_FIELD_OF.get(entry.name, entry.name)] = value
    return values


def _clean(value: str) -> str:
    """One line of printable text, Outlook's mailto forms as "Name <a@b>", capped."""
    value = " ".join(value[:_MAX_LINE_CHARS].translate(_CONTROLS).split())
    if "mailto:" in value.casefold():
        value = _MAILTO.sub(_without_mailto, value)
    return value[:MAX_VALUE_CHARS].rstrip()


def _without_mailto(match: re.Match[str]) -> str:
    address = match.group(2)
    start = match.start()
    # Bounded slices: copying everything before each match would be quadratic.
    before = match.string[max(0, start - len(address)) : start]
    if match.group(1) == "<" and before.casefold() == address.casefold():
        # "a@b<mailto:a@b>": the link target repeats the text it was attached to.
        return ""
    return f"<{address}>" if not before or before[-1] == " " else f" <{address}>"


def _guess_language(evidence: list[tuple[frozenset[str], int]]) -> str:
    # Clients leave untranslated labels in English (Gmail writes "Von:" above "Date:"), never
    # the reverse: only evidence that excludes English can move the guess away from it.
    telling = [(languages, weight) for languages, weight in evidence if "en" not in languages]
    if not telling:
        return "en"
    scores: dict[str, int] = {}
    for languages, weight in telling:
        for language in languages:
            scores[language] = scores.get(language, 0) + weight
    best = max(scores.values())
    return next(language for language in _LANGUAGES if scores.get(language) == best)
