//! The first-party tools, run as components, against behaviour modelled on the reference.
