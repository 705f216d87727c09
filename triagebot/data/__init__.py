"""Data files shipped with triagebot (dated library-frame patterns)."""
