"""What the wire says, below every feature: identifiers (`identifiers`: XUIDs,
SCIDs, title ids), Xbox's time format (`times`), the viewer's language
(`locales`) and how a response is rendered for its viewer (`context`).

Pure modules without I/O; features import these instead of each other."""
