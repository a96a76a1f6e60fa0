"""All resources of the five APIs: lookups, child records per parent, and mutations over time."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any, Optional

from restsync_dagster.simulator.catalog import CATALOG
from restsync_dagster.simulator.data import (
    BASE_SPAN,
    ResourceData,
    Spec,
    history_start,
    iso,
    now,
)

CHILD_SLOTS = 100  # child number = parent number * 100 + slot; slots >= 50 are inserted children
INSERTED_SLOT = 50


class Store:
    def __init__(
        self, seed: int = 42, scale: float = 1.0, counts: Optional[dict[str, int]] = None, pad_bytes: int = 0,
        span: timedelta = BASE_SPAN,
    ) -> None:
        counts = counts or {}
        self.span = span  # how far back every resource's generated history reaches (to BASE_END)
        self.data: dict[tuple[str, str], ResourceData] = {}
        for spec in CATALOG:
            size = counts.get(f"{spec.api}.{spec.name}", max(1, round(spec.count * scale)) if spec.count else 0)
            self.data[(spec.api, spec.name)] = ResourceData(spec, seed, size, pad_bytes, span)
        self.lock = threading.RLock()

    def resource(self, api: str, name: str) -> ResourceData:
        return self.data[(api, name)]

    def specs(self, api: str) -> list[Spec]:
        return [d.spec for (a, _), d in self.data.items() if a == api]

    # --- reading ----------------------------------------------------------------------------
    def number_of(self, data: ResourceData, record_id: str) -> Optional[int]:
        """Map an id as it appears in a URL back to the record number."""
        if data.spec.id_format is int:
            return int(record_id) if record_id.isdigit() else None
        for number in data.view().slice(0, len(data.view())):
            if str(data.spec.id_format(number)) == record_id:
                return number
        return None

    def children(self, api: str, name: str, parent_id: str) -> Optional[list[dict[str, Any]]]:
        """The child records of one parent as served now; None when the parent does not exist."""
        data = self.resource(api, name)
        parent_data = self.resource(api, data.spec.parent or "")
        parent_number = self.number_of(parent_data, parent_id)
        if parent_number is None or self._lookup(parent_data, parent_number) is None:
            return None
        if data.spec.members_of:
            return self._members(data, parent_number)
        overlay = data.overlay
        slots = data.rng("fanout", parent_number).randint(*data.spec.fanout)
        parent_updated = self._base_time(parent_data, parent_number)
        rows = []
        for slot in range(slots):
            number = parent_number * CHILD_SLOTS + slot
            if number in overlay.deleted:
                continue
            if number in overlay.updated:
                rows.append(dict(overlay.updated[number]))
            else:
                rows.append(data.make(number, parent_updated + timedelta(minutes=slot)))
        for slot in range(INSERTED_SLOT, CHILD_SLOTS):
            number = parent_number * CHILD_SLOTS + slot
            if number in overlay.inserted and number not in overlay.deleted:
                rows.append(dict(overlay.updated.get(number, overlay.inserted[number])))
        return rows

    def _base_time(self, data: ResourceData, number: int) -> Any:
        """Generated timestamp of a record: a child's follows its parent's by its slot in minutes."""
        if data.spec.parent is None:
            return data.base_updated(number, data.count)
        parent = self.resource(data.spec.api, data.spec.parent)
        return self._base_time(parent, number // CHILD_SLOTS) + timedelta(minutes=number % CHILD_SLOTS)

    def _lookup(self, data: ResourceData, number: int) -> Optional[dict[str, Any]]:
        """A record by number, top-level or child (a child's parent is number // CHILD_SLOTS)."""
        if data.spec.parent is None:
            return data.record(number)
        siblings = self.children(data.spec.api, data.spec.name, str(number // CHILD_SLOTS)) or []
        return next((row for row in siblings if row["id"] == number), None)

    def _members(self, data: ResourceData, parent_number: int) -> list[dict[str, Any]]:
        users = self.resource(data.spec.api, data.spec.members_of or "")
        rng = data.rng("members", parent_number)
        size = min(rng.randint(*data.spec.fanout), users.count)
        picked = sorted(rng.sample(range(1, users.count + 1), size))
        return [record for record in (users.record(n) for n in picked) if record is not None]

    def records(self, api: str, name: str) -> list[dict[str, Any]]:
        data = self.resource(api, name)
        if data.spec.parent is None:
            view = data.view()
            return [r for r in (data.record(n) for n in view.slice(0, len(view))) if r is not None]
        return [child for children in self.children_by_parent(api, name).values() for child in children]

    def children_by_parent(self, api: str, name: str) -> dict[Any, list[dict[str, Any]]]:
        data = self.resource(api, name)
        parents = self.records(api, data.spec.parent or "")
        result = {}
        for parent in parents:
            rows = self.children(api, name, str(parent["id"]))
            if rows is not None:
                result[parent["id"]] = rows
        return result

    # --- changing -----------------------------------------------------------------------------
    def mutate(self, api: str, name: str, updates: int = 0, inserts: int = 0, deletes: int = 0) -> dict[str, list[Any]]:
        data = self.resource(api, name)
        with self.lock, data.lock:
            if data.spec.parent is None:
                result = self._mutate_top(data, updates, inserts, deletes)
            else:
                result = self._mutate_children(api, data, updates, inserts, deletes)
            data.overlay.version += 1
        return result

    def _mutate_top(self, data: ResourceData, updates: int, inserts: int, deletes: int) -> dict[str, list[Any]]:
        overlay = data.overlay
        rng = data.rng("mutate", overlay.version)
        view = data.view()
        live = len(view)
        chosen = view.slice(0, live) if live <= 10_000 else [view.slice(rng.randrange(live), 1)[0] for _ in range(updates + deletes)]
        picks = rng.sample(chosen, min(updates + deletes, len(chosen)))
        updated, deleted, inserted = [], [], []
        for number in picks[:updates]:
            record = data.record(number)
            if record is None:
                continue
            record = self._touch(data, record, rng)
            overlay.updated[number] = record
            updated.append(record["id"])
        for number in picks[updates : updates + deletes]:
            overlay.deleted.add(number)
            overlay.deleted_at[number] = now()
            overlay.updated.pop(number, None)
            deleted.append(data.spec.id_format(number))
        next_number = max([data.count, *overlay.inserted]) + 1
        for offset in range(inserts):
            record = data.make(next_number + offset, now(), rng)
            overlay.inserted[next_number + offset] = record
            inserted.append(record["id"])
        return {"updated": updated, "inserted": inserted, "deleted": deleted}

    def _mutate_children(self, api: str, data: ResourceData, updates: int, inserts: int, deletes: int) -> dict[str, list[Any]]:
        overlay = data.overlay
        rng = data.rng("mutate", overlay.version)
        parent_data = self.resource(api, data.spec.parent or "")
        by_parent = self.children_by_parent(api, data.spec.name)
        pairs = [(pid, child) for pid, rows in by_parent.items() for child in rows]
        updated, deleted, inserted = [], [], []
        touched_parents: set[Any] = set()
        for pid, child in rng.sample(pairs, min(updates, len(pairs))):
            record = self._touch(data, child, rng)
            overlay.updated[int(child["id"])] = record
            updated.append(child["id"])
            touched_parents.add(pid)
        for pid, child in rng.sample(pairs, min(deletes, len(pairs))):
            overlay.deleted.add(int(child["id"]))
            overlay.deleted_at[int(child["id"])] = now()
            deleted.append(child["id"])
            touched_parents.add(pid)
        parent_ids = list(by_parent) or []
        for _ in range(inserts if parent_ids else 0):
            pid = rng.choice(parent_ids)
            parent_number = self.number_of(parent_data, str(pid)) or 0
            used = [s for s in range(INSERTED_SLOT, CHILD_SLOTS) if parent_number * CHILD_SLOTS + s in overlay.inserted]
            slot = (max(used) + 1) if used else INSERTED_SLOT
            if slot >= CHILD_SLOTS:
                continue
            number = parent_number * CHILD_SLOTS + slot
            record = data.make(number, now(), rng)
            overlay.inserted[number] = record
            inserted.append(record["id"])
            touched_parents.add(pid)
        self._touch_parents(parent_data, touched_parents, rng)
        return {"updated": updated, "inserted": inserted, "deleted": deleted}

    def _touch_parents(self, parent_data: ResourceData, parent_ids: set[Any], rng: Any) -> None:
        """A new or changed child updates its parent (a new message updates its conversation)."""
        with parent_data.lock:
            for pid in parent_ids:
                number = self.number_of(parent_data, str(pid))
                record = self._lookup(parent_data, number) if number is not None else None
                if record is not None and number is not None:
                    record[parent_data.spec.updated_field] = iso(now())
                    if number > parent_data.count:
                        parent_data.overlay.inserted[number] = record
                    else:
                        parent_data.overlay.updated[number] = record
            parent_data.overlay.version += 1

    @staticmethod
    def _touch(data: ResourceData, record: dict[str, Any], rng: Any) -> dict[str, Any]:
        record = dict(record)
        record[data.spec.updated_field] = iso(now())
        for key in ("status", "name", "subject", "body", "displayName", "description"):
            if key in record and isinstance(record[key], str):
                record[key] = f"{record[key].split(' [edited')[0]} [edited {rng.randint(1, 9999)}]"
                break
        return record

    def first_updated(self) -> str:
        return iso(history_start(self.span))
