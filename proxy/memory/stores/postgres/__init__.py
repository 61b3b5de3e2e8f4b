"""The PostgreSQL store for a team (pgvector for recall by meaning): the store (:mod:`.store`), its schema
and migrations (:mod:`.schema`), its word search (:mod:`.search`), and reading a DSN's password without the
driver, so that it can be masked (:mod:`.dsn`)."""
