"""What one class server keeps for the whole class: the teacher's rules (owners.ClassRules) and
the secrets every replica shares (one part of the run store)."""

from __future__ import annotations

import contextlib
import json
import math
import secrets
import time

import sqlalchemy as sa

from mnist_app.runs.database import StoreError, StorePart, class_rules, server_secrets
from mnist_app.runs.owners import ClassRules

RULES_SECONDS = 2.0  # how stale the live API's copy of the class rules may be: a teacher's switch
# reaches every open page within this, and the database is asked once per this, not per poll
clock = time.monotonic  # a test holds the clock still


class RulesAndSecrets(StorePart):
    """A RunStore's class rules and server secrets, each cached once read."""

    _secrets: dict[str, bytes]  # set empty by RunStore.__init__
    _rules_read: ClassRules | None  # the class's rules as last read (None by RunStore.__init__)
    _rules_read_at: float = -math.inf  # when, by `clock`

    def class_rules(self, or_last_known: bool = False, max_age: float = 0.0) -> ClassRules:
        """The rules the teacher set for the class (the defaults until they set any).

        With `max_age` (seconds), the rules as last read here if that was at most so long ago:
        the live API, polled by every open page, reads them from the database at most once per
        RULES_SECONDS. With `or_last_known`, the rules as last read here when the database
        cannot be read now (StoreError still if they never were).
        """
        if self._rules_read is not None and clock() - self._rules_read_at <= max_age:
            return self._rules_read
        try:
            read_at = clock()
            rows = self._read(sa.select(class_rules))
        except StoreError:
            if or_last_known and self._rules_read is not None:
                return self._rules_read
            raise
        stored = {}
        for row in rows:
            try:
                stored[row.name] = json.loads(row.value)
            except ValueError:  # a hand-edited value: as if unset
                continue
        self._rules_read, self._rules_read_at = ClassRules.from_dict(stored), read_at
        return self._rules_read

    def set_class_rules(self, rules: ClassRules) -> None:
        rows = [{"name": key, "value": json.dumps(value)} for key, value in rules.to_dict().items()]
        self._write((class_rules.delete(), None), (class_rules.insert(), rows))
        self._rules_read, self._rules_read_at = rules, clock()  # this replica knows at once

    def secret(self, name: str) -> bytes:
        """A random 32-byte secret every replica using this database shares, made on first use
        (if two replicas make it at once, the first one written counts)."""
        if name not in self._secrets:
            query = sa.select(server_secrets.c.value).where(server_secrets.c.name == name)
            rows = self._read(query)
            if not rows:
                with contextlib.suppress(StoreError):  # another replica wrote it first
                    self._write(
                        (server_secrets.insert(), {"name": name, "value": secrets.token_hex(32)})
                    )
                rows = self._read(query)
            if not rows:
                raise StoreError(f"cannot keep the server's {name} secret in the runs database")
            self._secrets[name] = bytes.fromhex(rows[0].value)
        return self._secrets[name]
