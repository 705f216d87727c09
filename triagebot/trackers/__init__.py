"""Issue trackers: the Jira adapter and the local (SQLite) tracker behind one protocol."""
