"""Layer 2, http: talking to one API: session, auth, where requests may go, bounded bodies, paging.

Owns the HTTP session (`session`), authenticators (`auth`), the redirect and host policy
(`request_policy`), body limits and decoding (`bounded_body`, `json_body`), the rate budget, read-ahead,
replay of answers already fetched, and the paginators and listing client (`paginators`, `pages`).
May import `config` only.
"""
