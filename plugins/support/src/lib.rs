//! Code shared by the first-party tools. A library, not a component: the guest build embeds only
//! `cdylib` members.

#[cfg(feature = "diff")]
pub mod diff;
#[cfg(feature = "edit")]
pub mod edit;
#[cfg(feature = "walk")]
pub mod walk;
