// Registers the schema (a copy of the server's schema.graphql that scripts/gen-sdk.sh keeps in
// step) for cynic's derives in src/generated.rs.
fn main() {
    cynic_codegen::register_schema("ephemail")
        .from_sdl_file("schema.graphql")
        .expect("schema.graphql is valid SDL")
        .as_default()
        .expect("registering the schema");
    println!("cargo:rerun-if-changed=schema.graphql");
}
