//! Events: the per-instance bus with sequence numbers and a replay ring, and SSE. (Being built.)
