//! `rust-embed` compiles the web build (web/dist) into the binary at compile time, but cargo does
//! not know that: a rebuilt bundle alone would leave a binary serving the old one.
fn main() {
    println!("cargo:rerun-if-changed=web/dist");
}
