//! `embed_migrations!` reads the workspace's `migrations/` at compile time, but cargo does not
//! know that: a new migration directory alone would leave a binary that lacks it.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
