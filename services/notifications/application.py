"""The notifications service's store. For now it keeps the case directory: which case number
and caseworker a case id stands for, so that messages can name a case without survivor data."""
from shared.store import ServiceStore


class NotificationsStore(ServiceStore):
    name = "notifications"
    tables = (
        "CREATE TABLE IF NOT EXISTS {schema}.case_directory ("
        " case_id uuid PRIMARY KEY, case_number text NOT NULL, assigned_to text NOT NULL,"
        " registered_at timestamptz NOT NULL)",
    )

    def case_registered(self, envelope: dict) -> bool:
        """Adds the case to the directory once, however often the event arrives."""
        payload = envelope["payload"]

        def add(curs):
            # A plain INSERT: a second effect for the same event would fail loudly, not pass quietly.
            curs.execute(self.sql("INSERT INTO {schema}.case_directory VALUES (%s, %s, %s, %s)"),
                         (envelope["aggregate_id"], payload["case_number"], payload["assigned_to"],
                          envelope["occurred_at"]))

        return self.process_once("case_directory", envelope["event_id"], add)
