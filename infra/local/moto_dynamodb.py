"""moto's DynamoDB fit for a long `make run`: item-level rollback, trimmed streams, one request at a time.

moto 5.2.5 (``moto/dynamodb/models/__init__.py``, ``DynamoDBBackend.transact_write_items``)
backs up a transaction by ``copy.deepcopy`` of the whole table, once per item of the
transaction, stream records included, and rolls a cancelled transaction back by putting
that copy in the table's place. So every transaction costs time and memory in proportion
to the table's history, and after a cancellation the table (and its stream shard) is a new
object: a stream reader's iterator still points at the old shard, which no write reaches
again. Its stream shard (``moto/dynamodb/models/table.py``, ``StreamShard.items``) keeps
every record for ever, and the streams backend (``moto/dynamodbstreams/models.py``) keeps
every shard iterator it ever issued. moto's server also serves requests on many threads
against dictionaries no lock guards.

``install()`` changes that in this process (the one that runs the moto server):

* a transaction is backed up by copies of the items it names, and rolled back in place;
* a shard keeps its records in a ``StreamLog`` that can drop the records every local
  stream poller has consumed (``StreamCheckpoints``), keeping sequence numbers as they were;
* shard iterators expire after 15 minutes, as DynamoDB Streams' do;
* DynamoDB and DynamoDB Streams requests run one at a time.

Every patch wraps moto's own code; none changes what a request answers, except that a
read behind the trimmed horizon fails as DynamoDB Streams' does (TrimmedDataAccessException).
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

log = logging.getLogger("dealwire.local.moto")

# The release these patches were written against; another one must be read again first.
MOTO_VERSION: Final = "5.2.5"
# DynamoDB Streams: "a shard iterator expires 15 minutes after it is returned to the requester".
ITERATOR_LIFETIME_SECONDS = 15 * 60

# One DynamoDB (and Streams) request at a time: moto's models are not thread-safe, and a
# checkpoint's trim must not interleave with a write or a read of the same shard.
REQUEST_LOCK: Final = threading.RLock()

_installed: dict[str, Any] = {}


class StreamLog:
    """A shard's records, of which the oldest may be dropped, indexed as if none were.

    moto numbers a record ``starting_sequence_number + len(items)`` and reads
    ``items[start:end]`` with indexes counted from the shard's first record, so ``len``
    counts the dropped records too and a slice is shifted past them.
    """

    def __init__(self) -> None:
        self.dropped = 0
        self._kept: list[Any] = []

    def __len__(self) -> int:
        return self.dropped + len(self._kept)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._kept)

    def __bool__(self) -> bool:
        return bool(self._kept)

    def append(self, record: Any) -> None:  # noqa: ANN401 - moto's StreamRecord
        self._kept.append(record)

    def _window(self, index: slice) -> slice:
        if index.step not in (None, 1):
            raise TypeError("a stream log is read in order")
        start = 0 if index.start is None else index.start
        if start < self.dropped:
            raise _trimmed()
        stop = None if index.stop is None else max(0, index.stop - self.dropped)
        return slice(start - self.dropped, stop)

    def __getitem__(self, index: slice) -> list[Any]:
        if not isinstance(index, slice):
            raise TypeError("a stream log is read by slices")
        return self._kept[self._window(index)]

    def __delitem__(self, index: slice) -> None:
        """``del log[n:]``: a cancelled transaction takes back the records it wrote."""
        if not isinstance(index, slice) or index.stop is not None:
            raise TypeError("only the newest records can be taken back")
        del self._kept[self._window(index)]

    @property
    def retained(self) -> int:
        return len(self._kept)

    def drop_through(self, position: int) -> int:
        """Drop every record up to and including index ``position``; return how many went."""
        count = min(len(self._kept), position + 1 - self.dropped)
        if count <= 0:
            return 0
        del self._kept[:count]
        self.dropped += count
        return count


def _error(code: str, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError  # noqa: PLC0415 - moto is imported on install

    error: Exception = JsonRESTError(code, message)
    return error


def _trimmed() -> Exception:
    return _error(
        "TrimmedDataAccessException",
        "The operation attempted to read past the oldest stream record in a shard.",
    )


class IteratorRegistry(dict[str, Any]):
    """The streams backend's shard iterators, each forgotten 15 minutes after it was issued."""

    clock: ClassVar[Callable[[], float]] = time.monotonic

    def __init__(self) -> None:
        super().__init__()
        self._issued: dict[str, float] = {}

    def __setitem__(self, key: str, value: Any) -> None:  # noqa: ANN401 - moto's ShardIterator
        now = type(self).clock()
        self._expire(now)
        super().__setitem__(key, value)
        self._issued[key] = now

    def __getitem__(self, key: str) -> Any:  # noqa: ANN401
        self._expire(type(self).clock())
        if not super().__contains__(key):
            raise _error("ExpiredIteratorException", "Iterator expired or unknown.")
        return super().__getitem__(key)

    def _expire(self, now: float) -> None:
        # Insertion order is issue order: the expired ones are at the front.
        while self._issued:
            key = next(iter(self._issued))
            if now - self._issued[key] < ITERATOR_LIFETIME_SECONDS:
                return
            del self._issued[key]
            super().pop(key, None)


@dataclass
class _Undo:
    """What a transaction may change: each named item as it was, and each shard's length."""

    items: dict[tuple[str, Any, Any], Any] = field(default_factory=dict)
    shards: dict[str, int] = field(default_factory=dict)


def _item_key(table: Any, operation: str, op: dict[str, Any]) -> tuple[Any, Any] | None:  # noqa: ANN401
    from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: PLC0415

    attributes = op.get("Item") if operation == "Put" else op.get("Key")
    if not isinstance(attributes, dict) or table.hash_key_attr not in attributes:
        return None
    hash_value = DynamoType(attributes[table.hash_key_attr])
    if table.range_key_attr is None:
        return hash_value, None
    if table.range_key_attr not in attributes:
        return None
    return hash_value, DynamoType(attributes[table.range_key_attr])


def _snapshot(backend: Any, transact_items: list[dict[str, Any]]) -> _Undo:  # noqa: ANN401
    undo = _Undo()
    for entry in transact_items:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        operation, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        if table is None:
            continue
        key = _item_key(table, operation, op)
        if key is None:
            continue
        slot = (table.name, *key)
        if slot not in undo.items:
            current = table.get_item(*key)
            undo.items[slot] = copy.deepcopy(current) if current is not None else None
        if table.stream_shard is not None and table.name not in undo.shards:
            undo.shards[table.name] = len(table.stream_shard.items)
    return undo


def _roll_back(backend: Any, undo: _Undo) -> None:  # noqa: ANN401
    for (table_name, hash_value, range_value), before in undo.items.items():
        table = backend.tables[table_name]
        if range_value is None:
            if before is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = before
            continue
        bucket = table.items[hash_value]
        if before is None:
            bucket.pop(range_value, None)
            if not bucket:
                del table.items[hash_value]
        else:
            bucket[range_value] = before
    for table_name, length in undo.shards.items():
        shard = backend.tables[table_name].stream_shard
        if shard is not None:
            del shard.items[length:]


class _TablesNotCopied:
    """Stands in for ``copy`` in moto's DynamoDB models: a Table's backup is the table itself.

    ``transact_write_items`` then "restores" a table by putting it back where it is; the
    wrapper below restores the items it names instead.
    """

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:  # noqa: ANN401
        if isinstance(value, self._table_type):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - the rest of the copy module
        return getattr(copy, name)


def _transact_write_items(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:  # noqa: ANN401
        undo = _snapshot(self, transact_items)
        try:
            original(self, transact_items)
        except BaseException:
            _roll_back(self, undo)
            raise

    return transact_write_items


def _one_at_a_time(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def call_action(self: Any) -> Any:  # noqa: ANN401
        with REQUEST_LOCK:
            return original(self)

    return call_action


def _shard_with_log(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401, N807
        original(self, *args, **kwargs)
        self.items = StreamLog()

    return __init__


def _iterator_from_horizon(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def __init__(self: Any, backend: Any, shard: Any, kind: str, *rest: Any) -> None:  # noqa: ANN401, N807
        original(self, backend, shard, kind, *rest)
        items = shard.items
        if not isinstance(items, StreamLog):
            return
        if kind == "TRIM_HORIZON":
            # The oldest record still in the shard, not the shard's first.
            self.sequence_number += items.dropped
        elif kind != "LATEST" and self.sequence_number < shard.starting_sequence_number + items.dropped:
            raise _trimmed()

    return __init__


def _backend_with_registry(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401, N807
        original(self, *args, **kwargs)
        self.shard_iterators = IteratorRegistry()

    return __init__


def _patch(owner: type, name: str, wrapper: Callable[[Any], Any]) -> None:
    # An inherited method (call_action) is wrapped on the subclass and removed again on uninstall.
    own = owner.__dict__.get(name)
    _installed[f"{owner.__module__}.{owner.__qualname__}.{name}"] = (owner, name, own)
    setattr(owner, name, wrapper(getattr(owner, name)))


def install() -> None:
    """Apply the patches to this process's moto; a second call does nothing."""
    if _installed:
        return
    import moto  # noqa: PLC0415
    import moto.dynamodb.models as dynamodb_models  # noqa: PLC0415
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415
    from moto.dynamodb.models.table import StreamShard, Table  # noqa: PLC0415
    from moto.dynamodb.responses import DynamoHandler  # noqa: PLC0415
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator  # noqa: PLC0415
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler  # noqa: PLC0415

    if moto.__version__ != MOTO_VERSION:
        # The patches lean on moto's internals: check them against the new release's source.
        log.warning("moto %s is not %s, which these patches were written for", moto.__version__, MOTO_VERSION)
    _patch(DynamoDBBackend, "transact_write_items", _transact_write_items)
    # The module's ``copy`` is the copy module; replaced, its one deepcopy of a Table is free.
    models: Any = dynamodb_models
    _installed["moto.dynamodb.models.copy"] = (models, "copy", models.copy)
    models.copy = _TablesNotCopied(Table)
    _patch(StreamShard, "__init__", _shard_with_log)
    _patch(ShardIterator, "__init__", _iterator_from_horizon)
    _patch(DynamoDBStreamsBackend, "__init__", _backend_with_registry)
    _patch(DynamoHandler, "call_action", _one_at_a_time)
    _patch(DynamoDBStreamsHandler, "call_action", _one_at_a_time)


def uninstall() -> None:
    """Put moto back as it was (for tests that install the patches in their own process)."""
    for owner, name, original in _installed.values():
        if original is None:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
    _installed.clear()


def _table_of(stream_arn: str) -> tuple[str, str, str]:
    """(account, region, table) of ``arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>``."""
    parts = stream_arn.split(":", 5)
    return parts[4], parts[3], parts[5].split("/")[1]


class StreamCheckpoints:
    """How far each local stream poller has consumed each stream; what all have consumed is dropped.

    Lambda's event source mapping keeps its own position and DynamoDB Streams keeps records
    for 24 hours; locally a record every registered poller has consumed is of no more use,
    and keeping it costs memory for the rest of the session. A stream no poller is
    registered for is never trimmed. Register every poller before any of them starts.
    """

    def __init__(self) -> None:
        self._positions: dict[str, dict[str, int | None]] = {}
        self._lock = threading.Lock()
        self.dropped = 0

    def register(self, stream_arn: str, consumer: str) -> None:
        with self._lock:
            self._positions.setdefault(stream_arn, {})[consumer] = None

    def consumed(self, stream_arn: str, consumer: str, sequence_number: str) -> None:
        """``consumer`` is done with every record of the stream up to ``sequence_number``."""
        with self._lock:
            positions = self._positions.get(stream_arn)
            if positions is None or consumer not in positions:
                return
            previous = positions[consumer]
            position = int(sequence_number)
            positions[consumer] = position if previous is None else max(previous, position)
            known = [p for p in positions.values() if p is not None]
            if len(known) < len(positions):
                return
            self.dropped += self._drop_through(stream_arn, min(known))

    @staticmethod
    def _drop_through(stream_arn: str, sequence_number: int) -> int:
        from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415

        account, region, table_name = _table_of(stream_arn)
        with REQUEST_LOCK:
            table = dynamodb_backends[account][region].tables.get(table_name)
            shard = table.stream_shard if table is not None else None
            if shard is None or not isinstance(shard.items, StreamLog):
                return 0
            return shard.items.drop_through(sequence_number - shard.starting_sequence_number)
