//! The embedded store (SQLite): sessions, messages, parts, todos and pending permission requests.
