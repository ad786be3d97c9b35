//! The project a request is scoped to: its files, search, and version control. (Being built.)
