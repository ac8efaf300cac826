"""SQL storage for the Lime sandbox: one typed table per limetype, plus files and subscriptions.

Typed columns (not a JSON blob) let filters, sorting and paging run in SQL, which is what keeps the
sandbox usable with a few hundred thousand invoices in a benchmark.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.elements import ColumnElement

from sandbox.lime.datamodel import DATA_MODEL, LimeType, Property
from sandbox.lime.values import ValidationError, bump, default_value, utcnow

_COLUMN_TYPES: dict[str, Any] = {
    "string": String,
    "text": Text,
    "integer": Integer,
    "decimal": Float,
    "date": Date,
    "time": DateTime,
    "yesno": Boolean,
    "option": String,  # holds the option key
    "belongsto": Integer,
    "file": Integer,
}

Row = dict[str, Any]


def table_name(limetype: str) -> str:
    return f"lt_{limetype}"


class LimeStore:
    """Thread-safe access to the sandbox database.

    SQLite serialises writers itself, but two writers racing for the lock get "database is locked"
    after the busy timeout; a process-level lock avoids that. An in-memory database is a single
    shared connection (StaticPool), so there even reads take the lock.
    """

    def __init__(self, database_url: str, model: dict[str, LimeType] | None = None) -> None:
        self.model = model or DATA_MODEL
        self.database_url = database_url
        self.engine = self._make_engine(database_url)
        self.metadata = MetaData()
        self.tables: dict[str, Table] = {name: self._limetype_table(lt) for name, lt in self.model.items()}
        self.files = Table(
            "lime_file",
            self.metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("filename", String, nullable=False),
            Column("content_type", String, nullable=False),
            Column("extension", String, nullable=False),
            Column("size", Integer, nullable=False),
            Column("data", LargeBinary, nullable=False),
            Column("created_by", Integer),
            Column("created_time", DateTime, nullable=False),
            sqlite_autoincrement=True,
        )
        self.subscriptions = Table(
            "lime_subscription",
            self.metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("name", String, nullable=False, default=""),
            Column("events", Text, nullable=False),  # JSON list
            Column("target_url", String, nullable=False),
            Column("secret", String),
            Column("enabled", Boolean, nullable=False, default=True),
            Column("created_time", DateTime, nullable=False),
            sqlite_autoincrement=True,
        )
        # Which (limetype, property) pairs point at each limetype, for clearing references on delete.
        self.referrers: dict[str, list[tuple[str, Property]]] = {name: [] for name in self.model}
        for lt in self.model.values():
            for prop in lt.relations:
                assert prop.related is not None
                self.referrers[prop.related].append((lt.name, prop))
        self.metadata.create_all(self.engine)

    # --- engine ---------------------------------------------------------------------------------

    def _make_engine(self, database_url: str) -> Engine:
        url = make_url(database_url)
        self.is_sqlite = url.get_backend_name() == "sqlite"
        self.in_memory = self.is_sqlite and (
            url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
        )
        if not self.is_sqlite:
            self._lock: threading.RLock | None = None
            return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
        self._lock = threading.RLock()
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if self.in_memory:
            kwargs["poolclass"] = StaticPool
        elif url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        in_memory = self.in_memory

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            if not in_memory:
                cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine

    @contextmanager
    def _tx(self, write: bool) -> Iterator[Connection]:
        lock = self._lock if self._lock is not None and (write or self.in_memory) else nullcontext()
        with lock, self.engine.begin() as conn:
            yield conn

    def _limetype_table(self, lt: LimeType) -> Table:
        name = table_name(lt.name)
        columns: list[Any] = [
            Column("_id", Integer, primary_key=True, autoincrement=True),
            Column("_timestamp", DateTime, nullable=False, index=True),
            Column("_createdtime", DateTime, nullable=False),
            Column("_createduser", Integer),
            Column("_updateduser", Integer),
        ]
        for prop in lt.properties:
            columns.append(Column(prop.name, _COLUMN_TYPES[prop.type](), nullable=True))
        table = Table(name, self.metadata, *columns, sqlite_autoincrement=True)
        for prop in lt.properties:
            if prop.indexed:
                Index(f"ix_{name}_{prop.name}", table.c[prop.name])
        return table

    def reset(self) -> None:
        """Drop and recreate everything, so ids start from 1 again."""
        lock = self._lock if self._lock is not None else nullcontext()
        with lock:
            self.metadata.drop_all(self.engine)
            self.metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # --- limeobjects ----------------------------------------------------------------------------

    def _fetch(self, conn: Connection, limetype: str, object_id: int, lock_row: bool = False) -> Row | None:
        table = self.tables[limetype]
        stmt = select(table).where(table.c._id == object_id)
        if lock_row and not self.is_sqlite:
            stmt = stmt.with_for_update()
        found = conn.execute(stmt).mappings().first()
        return dict(found) if found is not None else None

    def _check_refs(self, conn: Connection, lt: LimeType, values: Row) -> None:
        for name, value in values.items():
            prop = lt.get(name)
            if prop is None or value is None or prop.type not in ("belongsto", "file"):
                continue
            if prop.type == "belongsto":
                assert prop.related is not None
                table = self.tables[prop.related]
                hit = conn.execute(select(table.c._id).where(table.c._id == value)).first()
                what = f"{prop.related} {value}"
            else:
                hit = conn.execute(select(self.files.c.id).where(self.files.c.id == value)).first()
                what = f"file {value}"
            if hit is None:
                raise ValidationError(f"{lt.name}.{name}: {what} does not exist")

    def _check_refs_bulk(self, conn: Connection, lt: LimeType, rows: Sequence[Row]) -> None:
        for prop in lt.properties:
            if prop.type not in ("belongsto", "file"):
                continue
            wanted = {row[prop.name] for row in rows if row.get(prop.name) is not None}
            if not wanted:
                continue
            id_col = self.tables[prop.related].c._id if prop.type == "belongsto" else self.files.c.id  # type: ignore[index]
            found: set[int] = set()
            ordered = sorted(wanted)
            for start in range(0, len(ordered), 5000):
                chunk = ordered[start : start + 5000]
                found.update(conn.execute(select(id_col).where(id_col.in_(chunk))).scalars())
            missing = sorted(wanted - found)
            if missing:
                target = prop.related if prop.type == "belongsto" else "file"
                raise ValidationError(f"{lt.name}.{prop.name}: {target} ids do not exist: {missing[:10]}")

    def get(self, limetype: str, object_id: int) -> Row | None:
        with self._tx(write=False) as conn:
            return self._fetch(conn, limetype, object_id)

    def get_many(self, limetype: str, ids: Iterable[int]) -> dict[int, Row]:
        wanted = sorted({i for i in ids if i is not None})
        if not wanted:
            return {}
        table = self.tables[limetype]
        out: dict[int, Row] = {}
        with self._tx(write=False) as conn:
            for start in range(0, len(wanted), 5000):
                chunk = wanted[start : start + 5000]
                for row in conn.execute(select(table).where(table.c._id.in_(chunk))).mappings():
                    out[row["_id"]] = dict(row)
        return out

    def insert(self, limetype: str, values: Row, user: int | None) -> Row:
        lt = self.model[limetype]
        table = self.tables[limetype]
        row = {p.name: default_value(p) for p in lt.properties}
        row.update(values)
        now = utcnow()
        row.update(_timestamp=now, _createdtime=now, _createduser=user, _updateduser=user)
        with self._tx(write=True) as conn:
            self._check_refs(conn, lt, values)
            new_id = conn.execute(insert(table).values(**row)).inserted_primary_key[0]
            created = self._fetch(conn, limetype, new_id)
        assert created is not None
        return created

    def update(self, limetype: str, object_id: int, values: Row, user: int | None) -> tuple[Row, Row, Row] | None:
        """Apply a partial update; returns (old row, new row, changed old values) or None if missing.

        Nothing is written when no value differs, so a no-op PUT leaves ``_timestamp`` alone.
        """
        lt = self.model[limetype]
        table = self.tables[limetype]
        with self._tx(write=True) as conn:
            old = self._fetch(conn, limetype, object_id, lock_row=True)
            if old is None:
                return None
            changed = {k: v for k, v in values.items() if old.get(k) != v}
            if not changed:
                return old, old, {}
            self._check_refs(conn, lt, changed)
            stamp = bump(old["_timestamp"])
            conn.execute(
                update(table).where(table.c._id == object_id).values(**changed, _timestamp=stamp, _updateduser=user)
            )
            new = self._fetch(conn, limetype, object_id)
        assert new is not None
        return old, new, {k: old[k] for k in changed}

    def delete(self, limetype: str, object_id: int) -> Row | None:
        """Delete an object and clear relations that pointed at it; returns its last values."""
        table = self.tables[limetype]
        with self._tx(write=True) as conn:
            old = self._fetch(conn, limetype, object_id, lock_row=True)
            if old is None:
                return None
            conn.execute(delete(table).where(table.c._id == object_id))
            now = utcnow()
            for other, prop in self.referrers[limetype]:
                other_table = self.tables[other]
                col = other_table.c[prop.name]
                conn.execute(update(other_table).where(col == object_id).values({prop.name: None, "_timestamp": now}))
        return old

    def select_rows(
        self,
        limetype: str,
        where: ColumnElement[bool] | None,
        order_by: Sequence[Any],
        limit: int,
        offset: int,
    ) -> list[Row]:
        table = self.tables[limetype]
        stmt = select(table)
        if where is not None:
            stmt = stmt.where(where)
        stmt = stmt.order_by(*order_by).limit(limit).offset(offset)
        with self._tx(write=False) as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def aggregate(self, limetype: str, where: ColumnElement[bool] | None, exprs: dict[str, Any]) -> dict[str, Any]:
        if not exprs:
            return {}
        stmt = select(*[expr.label(name) for name, expr in exprs.items()]).select_from(self.tables[limetype])
        if where is not None:
            stmt = stmt.where(where)
        with self._tx(write=False) as conn:
            row = conn.execute(stmt).mappings().one()
        return dict(row)

    def count(self, limetype: str, where: ColumnElement[bool] | None = None) -> int:
        stmt = select(func.count()).select_from(self.tables[limetype])
        if where is not None:
            stmt = stmt.where(where)
        with self._tx(write=False) as conn:
            return int(conn.execute(stmt).scalar_one())

    def bulk_insert(self, limetype: str, rows: Sequence[Row], user: int | None) -> list[int]:
        """Insert many already-validated rows in one transaction; returns their ids in input order."""
        if not rows:
            return []
        lt = self.model[limetype]
        table = self.tables[limetype]
        defaults = {p.name: default_value(p) for p in lt.properties}
        now = utcnow()
        prepared = []
        for values in rows:
            row = dict(defaults)
            row.update(values)
            row.setdefault("_timestamp", now)
            row.setdefault("_createdtime", row["_timestamp"])
            row.update(_createduser=user, _updateduser=user)
            prepared.append(row)
        with self._tx(write=True) as conn:
            self._check_refs_bulk(conn, lt, prepared)
            if self.is_sqlite:
                # RETURNING in parameter order degrades to one statement per row on SQLite. Under the
                # writer lock AUTOINCREMENT hands out a contiguous range, so the ids follow from the max.
                conn.execute(insert(table), prepared)
                last = int(conn.execute(select(func.max(table.c._id))).scalar_one())
                return list(range(last - len(prepared) + 1, last + 1))
            stmt = insert(table).returning(table.c._id, sort_by_parameter_order=True)
            return list(conn.execute(stmt, prepared).scalars())

    # --- files ------------------------------------------------------------------------------------

    def add_file(self, filename: str, content_type: str, data: bytes, user: int | None) -> Row:
        extension = filename.rsplit(".", 1)[1].lower() if "." in filename else ""
        values = {
            "filename": filename,
            "content_type": content_type,
            "extension": extension,
            "size": len(data),
            "data": data,
            "created_by": user,
            "created_time": utcnow(),
        }
        with self._tx(write=True) as conn:
            new_id = conn.execute(insert(self.files).values(**values)).inserted_primary_key[0]
        values["id"] = new_id
        return values

    def get_file(self, file_id: int, with_data: bool = False) -> Row | None:
        cols = [c for c in self.files.c if with_data or c.name != "data"]
        with self._tx(write=False) as conn:
            found = conn.execute(select(*cols).where(self.files.c.id == file_id)).mappings().first()
        return dict(found) if found is not None else None

    # --- subscriptions ----------------------------------------------------------------------------

    @staticmethod
    def _sub(row: Any) -> Row:
        out = dict(row)
        out["events"] = json.loads(out["events"])
        return out

    def list_subscriptions(self) -> list[Row]:
        with self._tx(write=False) as conn:
            rows = conn.execute(select(self.subscriptions).order_by(self.subscriptions.c.id)).mappings()
            return [self._sub(r) for r in rows]

    def get_subscription(self, sub_id: int) -> Row | None:
        with self._tx(write=False) as conn:
            found = conn.execute(select(self.subscriptions).where(self.subscriptions.c.id == sub_id)).mappings().first()
        return self._sub(found) if found is not None else None

    def add_subscription(self, events: list[str], target_url: str, secret: str | None, name: str, enabled: bool) -> Row:
        values = {
            "events": json.dumps(events),
            "target_url": target_url,
            "secret": secret,
            "name": name,
            "enabled": enabled,
            "created_time": utcnow(),
        }
        with self._tx(write=True) as conn:
            new_id = conn.execute(insert(self.subscriptions).values(**values)).inserted_primary_key[0]
        created = self.get_subscription(new_id)
        assert created is not None
        return created

    def update_subscription(self, sub_id: int, values: Row) -> Row | None:
        if not values:
            return self.get_subscription(sub_id)
        if "events" in values:
            values = {**values, "events": json.dumps(values["events"])}
        with self._tx(write=True) as conn:
            result = conn.execute(
                update(self.subscriptions).where(self.subscriptions.c.id == sub_id).values(**values)
            )
            if result.rowcount == 0:
                return None
        return self.get_subscription(sub_id)

    def delete_subscription(self, sub_id: int) -> bool:
        with self._tx(write=True) as conn:
            result = conn.execute(delete(self.subscriptions).where(self.subscriptions.c.id == sub_id))
            return result.rowcount > 0

