//! `embed_migrations!` reads `migrations/` at compile time, but cargo does not know that: a new
//! migration directory alone would leave a binary that lacks it. The same goes for web/dist.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    // Likewise the web build that `rust-embed` compiles into the binary.
    println!("cargo:rerun-if-changed=web/dist");
}
