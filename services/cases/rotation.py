"""Re-wrapping every case key under the current master key while the system runs
(`casetrail-audit rotate-master-key`; the procedure is README "Keys: backup and rotation").

Keys are taken in batches, per old master key in case id order, each batch locked (FOR UPDATE),
unwrapped with the key that wrapped it, wrapped under the current key and committed with the run's
count in `master_key_rotations`. So a run stopped anywhere (kill -9 too) leaves each key either as it
was or re-wrapped, both readable while the old key is still held; the next run finds only what is
left (the index on `master_key_id`). An erasure wins: a key erased meanwhile is never written back
(the lock waits for the erasure, then the row no longer matches). A case key made meanwhile is
wrapped under the current key already: the cases service was given it before the run."""
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from services.cases.keyring import MasterKeyNotHeld, MasterKeys

BATCH = 500


@dataclass
class Rotation:
    """One run: what it re-wrapped, and what is left under other keys afterwards (by key id; None:
    wrapped before keys were named), with the keys it could not open."""

    run: int
    to_key_id: str
    rewrapped: int = 0
    left: dict[str | None, int] = field(default_factory=dict)
    unopened: list[UUID] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return not self.left

    def summary(self, master: MasterKeys) -> dict:
        left = {str(key_id): n for key_id, n in self.left.items()}
        return {"rotation": self.run, "master_key_id": self.to_key_id, "rewrapped": self.rewrapped,
                "left_under_other_keys": left, "unopened_cases": [str(c) for c in self.unopened[:20]],
                "retired_keys_held": master.retired_ids,
                "note": ("every live case key is wrapped under the current master key: the retired master keys"
                         " may be removed from CASES_RETIRED_MASTER_KEYS (keep each with the backups made"
                         " before this rotation for as long as they are kept)") if self.done else
                        ("case keys are left under other master keys: run again; keys under a master key this"
                         " process does not hold need it in CASES_RETIRED_MASTER_KEYS")}


def rewrap(store, master: MasterKeys, operator: str, batch: int = BATCH,
           progress: Callable[[int], None] = lambda done: None) -> Rotation:
    """Re-wraps every live case key not under `master.current`; `progress` is told the count after each
    batch that found keys."""
    rotation = Rotation(_started(store, master, operator), master.current_id)
    for source in (None, *master.retired_ids):
        after = _batch(store, master, rotation, source, UUID(int=0), batch)
        while after is not None:
            progress(rotation.rewrapped)
            after = _batch(store, master, rotation, source, after, batch)
    rotation.left = left_under_other_keys(store, master)
    _finished(store, rotation)
    return rotation


def _batch(store, master: MasterKeys, rotation: Rotation, source: str | None, after: UUID,
           size: int) -> UUID | None:
    """One batch of keys under `source` after `after`, in one transaction: the last case id it saw
    (None: no more)."""
    which = "master_key_id IS NULL" if source is None else "master_key_id = %(source)s"
    with store.transaction() as curs:
        curs.execute(store.sql(
            "SELECT case_id, wrapped_key, master_key_id FROM {schema}.case_keys"
            f" WHERE wrapped_key IS NOT NULL AND {which} AND case_id > %(after)s"
            " ORDER BY case_id LIMIT %(size)s FOR UPDATE"), {"source": source, "after": after, "size": size})
        rows = curs.fetchall()
        done = 0
        for row in rows:
            try:
                case_key = master.unwrap(row["case_id"], bytes(row["wrapped_key"]), row["master_key_id"])
            except MasterKeyNotHeld:
                rotation.unopened.append(row["case_id"])  # left as it is, named in the summary
                continue
            wrapped, key_id = master.wrap(row["case_id"], case_key)
            curs.execute(store.sql("UPDATE {schema}.case_keys SET wrapped_key = %s, master_key_id = %s"
                                   " WHERE case_id = %s AND wrapped_key IS NOT NULL"),
                         (wrapped, key_id, row["case_id"]))
            done += curs.rowcount
        curs.execute(store.sql("UPDATE {schema}.master_key_rotations SET rewrapped = rewrapped + %s WHERE id = %s"),
                     (done, rotation.run))
    rotation.rewrapped += done
    return rows[-1]["case_id"] if rows else None


def left_under_other_keys(store, master: MasterKeys) -> dict[str | None, int]:
    """Live case keys not under the current master key, by the key that wraps them."""
    with store.transaction() as curs:
        curs.execute(store.sql("SELECT master_key_id, count(*) AS n FROM {schema}.case_keys"
                               " WHERE wrapped_key IS NOT NULL AND master_key_id IS DISTINCT FROM %s"
                               " GROUP BY master_key_id"), (master.current_id,))
        return {row["master_key_id"]: row["n"] for row in curs.fetchall()}


def keys_by_master_key(store) -> dict[str | None, int]:
    """Live case keys by the master key that wraps them."""
    with store.transaction() as curs:
        curs.execute(store.sql("SELECT master_key_id, count(*) AS n FROM {schema}.case_keys"
                               " WHERE wrapped_key IS NOT NULL GROUP BY master_key_id"))
        return {row["master_key_id"]: row["n"] for row in curs.fetchall()}


def _started(store, master: MasterKeys, operator: str) -> int:
    with store.transaction() as curs:
        curs.execute(store.sql("INSERT INTO {schema}.master_key_rotations (operator, to_key_id, held_key_ids)"
                               " VALUES (%s, %s, %s) RETURNING id"), (operator, master.current_id, list(master.by_id)))
        return curs.fetchone()["id"]


def _finished(store, rotation: Rotation) -> None:
    with store.transaction() as curs:
        curs.execute(store.sql("UPDATE {schema}.master_key_rotations SET finished_at = now(), remaining = %s"
                               " WHERE id = %s"), (sum(rotation.left.values()), rotation.run))
