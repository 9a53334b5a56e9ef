"""Access control: who may call the server and what they see (docs/access.md).

Callers are other systems whose requests are signed (RFC 9421 HTTP Message Signatures,
:mod:`.signatures`) with keys the server issues (:mod:`.keys`, secrets encrypted at rest by
:mod:`.sealing`); each key has a role (:mod:`.roles`) and an admin area, and the area is enforced by
PostgreSQL's row-level security (layers/migrations/0013_access.sql; the area given to each
connection a request takes by :mod:`urbangis.layers.scope`). Every refusal, key use and write is
written to an append-only, hash-chained audit log (:mod:`.audit`); :mod:`.limits` bounds what one
caller may ask.
"""
