"""What the wire says, below every feature: identifiers (`identifiers`: XUIDs,
SCIDs, title ids), Xbox's time format (`times`), the viewer's language
(`locales`), how a response is rendered for its viewer (`context`), who a token
speaks for and what it may read (`principal`), rarity (`rarity`), paging
(`paging`) and signed continuation tokens (`tokens`).

Pure modules without I/O; features import these instead of each other."""
