//! Code shared by the first-party tools. A library, not a component: the guest build embeds only
//! `cdylib` members.

#[cfg(feature = "diff")]
pub mod diff;
#[cfg(feature = "walk")]
pub mod walk;
