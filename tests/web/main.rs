//! The web inbox in headless Chromium, its files and its bundle. A test binary of its own:
//! cargo runs test binaries one after another, so the browser's timings (a mail listed within a
//! second of its `250`) are measured without the API suite loading the same two cores.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // the shared harness; this binary uses part of it
#[path = "../api/helpers.rs"]
mod helpers;
mod web;
