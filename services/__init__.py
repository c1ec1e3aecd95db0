import shared  # noqa: F401  (sets PSYCOPG_WAIT_FUNC before any service imports psycopg)
