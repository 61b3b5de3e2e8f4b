"""The embedded SQLite store, the default: one file on this machine (:mod:`.store`), its schema and its
migrations (:mod:`.schema`)."""
