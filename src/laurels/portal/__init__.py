"""The partner portal: server-rendered pages where a studio defines, tests and ships
its achievements."""
