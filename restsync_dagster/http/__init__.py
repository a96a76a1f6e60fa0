"""Layer 2, http: talking to one API: session, auth, where requests may go, bounded bodies, paging.

Owns the HTTP session (`session`), authenticators (`auth`), the redirect and host policy
(`request_policy`), body limits and decoding (`bounded_body`, `json_body`), the rate budget, read-ahead,
replay of answers already fetched, the paginators (the end signals of a listing in `listing_signals`,
the guard against endless paging in `listing_guard`, the classes in `guarded_paginators`, built from
the config by `paginator_factory`) and the listing client (`pages`).
May import `config` only.
"""
