"""Mail in: parsing (pure) and the mailbox sources (I/O)."""
